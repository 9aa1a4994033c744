"""The floe service: REST API (``*_api``), pages (``*pages``), one error map (``handlers``),
an OpenAPI document made from the API's models (``schemas``, ``operations``, ``openapi``)."""
