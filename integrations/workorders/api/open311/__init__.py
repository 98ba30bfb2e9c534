"""Open311 GeoReport v2 for dispute-free (incident) categories: catalogue, mapping, rendering."""
