"""API key management for admin keys (the CLI does the same offline)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import AdminDep, ServicesDep
from api.models import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ErrorPublic, ListPublic
from api.params import invalid
from api.routing import UnicodeJsonRoute
from storage.registry import ApiKey, Scope

router = APIRouter(prefix="/v1/keys", tags=["keys"], route_class=UnicodeJsonRoute)


def key_public(key: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(
        key_id=key.key_id,
        name=key.name,
        scope=key.scope.value,
        created=key.created,
        revoked=key.revoked,
    )


@router.get("", response_model=ListPublic[ApiKeyPublic])
def list_keys(services: ServicesDep, _: AdminDep) -> ListPublic[ApiKeyPublic]:
    data = [key_public(key) for key in services.keys.list()]
    return ListPublic[ApiKeyPublic](data=data, count=len(data))


@router.post(
    "",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses={400: {"model": ErrorPublic, "description": "Body is not valid JSON"}},
)
def create_key(services: ServicesDep, _: AdminDep, body: ApiKeyCreate) -> ApiKeyCreated:
    try:
        key, token = services.keys.create(body.name, Scope(body.scope))
    except ValueError as exc:
        raise invalid("body", "name", str(exc), body.name[:100]) from None
    return ApiKeyCreated(**key_public(key).model_dump(), token=token)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(services: ServicesDep, _: AdminDep, key_id: str) -> None:
    if not services.keys.revoke(key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no active key with that id")
