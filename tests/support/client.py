"""The Flask test client, speaking JSON with one bearer token."""


class ApiClient:
    """The test client, speaking JSON with one bearer token."""

    def __init__(self, app, token: str | None, project_id: str | None = None):
        self.client = app.test_client()
        self.token = token
        self.project_id = project_id

    def _headers(self, headers):
        merged = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        merged.update(headers or {})
        return merged

    def request(self, method, path, *, json=None, headers=None, **kwargs):
        return self.client.open(
            path, method=method, json=json, headers=self._headers(headers), **kwargs
        )

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)
