{{ category_affinity_segment(var('affinity_category', 'outerwear')) }}
