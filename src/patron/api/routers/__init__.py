"""The API's routers, one module per area (see :data:`patron.api.app.ROUTERS`)."""
