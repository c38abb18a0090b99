from tests.conftest import register


async def test_register_and_list(client):
    staff = await register(client)
    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=staff.headers)
    assert r.status_code == 200
