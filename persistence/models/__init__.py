"""The relational model, one module per context, all re-exported here: import models from
``persistence.models``. Every change comes with an Alembic migration in persistence/migrations/versions;
a new module is imported here, so that its tables join ``Base.metadata`` (which Alembic compares with)."""

from __future__ import annotations

from persistence.models.access import AccessOverride, AccessRule, Entitlement
from persistence.models.base import NAMING, Base
from persistence.models.catalog import Coupon, CouponProduct, HubProductDisplay, Price, Product, ProductDeliverable
from persistence.models.commerce import (
    BillingAuditEntry,
    CouponRedemption,
    Order,
    Payment,
    PaymentWebhookEvent,
    Refund,
    Subscription,
)
from persistence.models.community import (
    Comment,
    Conversation,
    ConversationParticipant,
    Discussion,
    Message,
    ModerationAction,
    Reaction,
    Report,
    ReportReason,
    Space,
    SpaceMember,
)
from persistence.models.content import ContentNode, ContentProgress, MediaFile, MediaFolder, Page, PageSection
from persistence.models.crm import (
    Contact,
    ContactAttribute,
    ContactAttributeOption,
    ContactAttributeValue,
    ContactTag,
    DataErasure,
    Segment,
    Tag,
    TeamContact,
)
from persistence.models.email import EmailOutbox
from persistence.models.hubs import (
    Hub,
    HubEmailSender,
    HubMembership,
    HubPolicy,
    HubPolicyVersion,
    MembershipAction,
    PolicyAcceptance,
)
from persistence.models.identity import AuthSession, MagicLinkToken, RefreshToken, User
from persistence.models.realtime import RealtimeOutbox
from persistence.models.teams import ApiKey, Team, TeamMember

__all__ = [
    # base
    "NAMING",
    "Base",
    # identity
    "AuthSession",
    "MagicLinkToken",
    "RefreshToken",
    "User",
    # teams
    "ApiKey",
    "Team",
    "TeamMember",
    # crm
    "Contact",
    "ContactAttribute",
    "ContactAttributeOption",
    "ContactAttributeValue",
    "ContactTag",
    "Segment",
    "Tag",
    "TeamContact",
    "DataErasure",
    # hubs
    "Hub",
    "HubEmailSender",
    "HubMembership",
    "HubPolicy",
    "HubPolicyVersion",
    "MembershipAction",
    "PolicyAcceptance",
    # access
    "AccessOverride",
    "AccessRule",
    "Entitlement",
    # content
    "ContentNode",
    "ContentProgress",
    "MediaFile",
    "MediaFolder",
    "Page",
    "PageSection",
    # community
    "Comment",
    "Conversation",
    "ConversationParticipant",
    "Discussion",
    "Message",
    "ModerationAction",
    "Reaction",
    "Report",
    "ReportReason",
    "Space",
    "SpaceMember",
    # email
    "EmailOutbox",
    # realtime
    "RealtimeOutbox",
    # catalog
    "Coupon",
    "CouponProduct",
    "HubProductDisplay",
    "Price",
    "Product",
    "ProductDeliverable",
    # commerce
    "BillingAuditEntry",
    "CouponRedemption",
    "Order",
    "Payment",
    "PaymentWebhookEvent",
    "Refund",
    "Subscription",
]
