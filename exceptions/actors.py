"""Who did something to an exception: an operator, an API key, a Slack user or E²A itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .models import ActorType

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from orders.models import ApiKey


@dataclass(frozen=True, slots=True)
class Actor:
    type: str
    label: str
    user: AbstractBaseUser | None = None
    api_key: ApiKey | None = None

    @classmethod
    def system(cls, what: str = "e2a") -> Actor:
        return cls(ActorType.SYSTEM, f"system:{what}")

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> Actor:
        return cls(ActorType.USER, f"user:{user.get_username()}", user=user)

    @classmethod
    def for_api_key(cls, key: ApiKey) -> Actor:
        return cls(ActorType.API_KEY, f"api-key:{key.prefix} ({key.name})", api_key=key)

    @classmethod
    def for_slack(cls, user: AbstractBaseUser, slack_user_id: str) -> Actor:
        return cls(ActorType.SLACK, f"slack:{slack_user_id} ({user.get_username()})", user=user)
