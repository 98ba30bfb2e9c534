"""One router per resource; ``app.create_app`` mounts them.

Each router carries its full path prefix (``/api/v1/...``), so a matched
route's ``path`` is the whole template the metrics are labelled with.
"""

API_V1 = "/api/v1"
