"""The service: a FastAPI app over the operational store (``patron serve``).

:func:`create_app` builds it from :class:`ApiSettings`; :data:`ENDPOINT_ROLES` says which
roles may call each operation; errors are RFC 9457 problem+json (:data:`PROBLEMS`). Request
paths read and write the store only, never the warehouse. Guide: ``docs/api.md``.
"""

from patron.api.app import API_PREFIX, ROUTERS, create_app
from patron.api.problems import PROBLEMS
from patron.api.roles import ENDPOINT_ROLES, ROLES
from patron.api.settings import ApiSettings

__all__ = [
    "API_PREFIX",
    "ENDPOINT_ROLES",
    "PROBLEMS",
    "ROLES",
    "ROUTERS",
    "ApiSettings",
    "create_app",
]
