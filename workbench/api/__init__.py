"""REST API `/api/v1` (issue #14 part 2): personal access tokens (`tokens`), RFC 9457 problems (`problems`),
the resources (`views`) and the generated OpenAPI 3.1 document (`openapi`). See docs/api.md."""
