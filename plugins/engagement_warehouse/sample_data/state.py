"""The few bytes of mutable state per user that make the streams agree with each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMAIL_OK = 0
EMAIL_INACTIVE = 2  # hard-bounced: the endpoint is INACTIVE in later exports
EMAIL_OPTED_OUT = 3  # unsubscribed or complained: OptOut ALL in later exports
SMS_OK = 0
SMS_OPTED_OUT = 3


@dataclass
class UserState:
    """Per-user arrays indexed by user index (about 14 bytes per user in total).

    `created_ms` is the account creation of users who sign up inside the window (0 until they do);
    `identified` is a bit mask of the devices that have sent an identify call inside the window.
    """

    email: np.ndarray
    sms: np.ndarray
    created_ms: np.ndarray
    identified: np.ndarray

    @classmethod
    def empty(cls, users: int) -> UserState:
        return cls(
            email=np.zeros(users, dtype=np.uint8),
            sms=np.zeros(users, dtype=np.uint8),
            created_ms=np.zeros(users, dtype=np.int64),
            identified=np.zeros(users, dtype=np.uint8),
        )

    def copy(self) -> UserState:
        return UserState(self.email.copy(), self.sms.copy(), self.created_ms.copy(), self.identified.copy())
