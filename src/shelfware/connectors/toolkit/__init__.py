"""The connector kit: the small named pieces every connector is composed from.

The names are the closed catalogues of the custom profile spec (ARCHITECTURE.md), in the
vocabulary of singer-sdk and Airbyte's declarative CDK, so a built-in connector and a custom
spec reach the same code:

- authenticators (`auth`): `BearerAuth`, `ApiKeyAuth` (header or query), `BasicAuth`,
  `OAuth2ClientCredentials`, `OAuth2RefreshToken` (the authorization code flow's tokens);
  `TokenSource` is the hook any token provider plugs into;
- paginators (`paging`): `SinglePage`, `PageNumber`, `Offset`, `StartIndex`, `Cursor`,
  `NextUrl`, `LinkHeader`;
- record selection (`selectors`): `JsonPath`, `RecordSelector`;
- error envelopes (`envelopes`): `ErrorEnvelope`;
- vendor names (`names`): `NameTable` of `Meaning`s, matched without regard to case, spaces,
  hyphens or underscores; unknown names are never guessed;
- not-found answers (`gone`): `GoneWhen`, a 404 counting as gone only when the vendor's answer
  names the object (`NotGone` otherwise);
- rate-limit pacing (`shelfware.kit.pacing`): `HeaderBudget`, `RequestQuota`, `PacerByKey`;
- snapshot checks (`snapshot`): `StableTotal`, `FullPages`, `UniqueKeys`, `IncreasingKeys`,
  `CountMatchesTotal`, `NotEmpty`, `read_until_stable`;
- raw-record fingerprints (`fingerprints`): `SourceFingerprint`, so a re-sync skips what did
  not change before mapping it;
- record mapping helpers (`records`), `HttpStream` (`stream`) and the `HttpConnector` base.
"""

from shelfware.connectors.toolkit.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    ReauthorizationRequired,
    StaticToken,
    TokenEndpointError,
    TokenSet,
    TokenSource,
    request_token,
)
from shelfware.connectors.toolkit.connector import HttpConnector, Options
from shelfware.connectors.toolkit.envelopes import ErrorEnvelope
from shelfware.connectors.toolkit.fingerprints import SourceFingerprint, source_digest
from shelfware.connectors.toolkit.gone import GoneWhen, NotGone
from shelfware.connectors.toolkit.names import (
    Meaning,
    NameTable,
    names_check,
    names_option,
    normalise_name,
    unrecognised_text,
)
from shelfware.connectors.toolkit.paging import (
    Cursor,
    LinkHeader,
    NextUrl,
    Offset,
    Page,
    PageNumber,
    PageRequest,
    PaginationError,
    Paginator,
    SinglePage,
    StartIndex,
)
from shelfware.connectors.toolkit.records import (
    RecordError,
    flag,
    identifier,
    instant,
    latest,
    parse_instant,
    record_of,
    text,
    whole_number,
)
from shelfware.connectors.toolkit.selectors import (
    MISSING,
    JsonPath,
    PathError,
    RecordSelector,
    SelectionError,
    path,
)
from shelfware.connectors.toolkit.snapshot import (
    CountMatchesTotal,
    FullPages,
    IncreasingKeys,
    NotEmpty,
    SnapshotCheck,
    StableTotal,
    UniqueKeys,
    read_until_stable,
)
from shelfware.connectors.toolkit.stream import (
    HttpStream,
    connector_error,
    decode,
    path_segment,
    rejected,
    send,
)
from shelfware.kit.pacing import HeaderBudget, Pacer, PacerByKey, RequestQuota

__all__ = [
    "MISSING",
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "CountMatchesTotal",
    "Cursor",
    "ErrorEnvelope",
    "FullPages",
    "GoneWhen",
    "HeaderBudget",
    "HttpConnector",
    "HttpStream",
    "IncreasingKeys",
    "JsonPath",
    "LinkHeader",
    "Meaning",
    "NameTable",
    "NextUrl",
    "NotEmpty",
    "NotGone",
    "OAuth2ClientCredentials",
    "OAuth2RefreshToken",
    "Offset",
    "Options",
    "Pacer",
    "PacerByKey",
    "Page",
    "PageNumber",
    "PageRequest",
    "PaginationError",
    "Paginator",
    "PathError",
    "ReauthorizationRequired",
    "RecordError",
    "RecordSelector",
    "RequestQuota",
    "SelectionError",
    "SinglePage",
    "SnapshotCheck",
    "SourceFingerprint",
    "StableTotal",
    "StartIndex",
    "StaticToken",
    "TokenEndpointError",
    "TokenSet",
    "TokenSource",
    "UniqueKeys",
    "connector_error",
    "decode",
    "flag",
    "identifier",
    "instant",
    "latest",
    "names_check",
    "names_option",
    "normalise_name",
    "parse_instant",
    "path",
    "path_segment",
    "read_until_stable",
    "record_of",
    "rejected",
    "request_token",
    "send",
    "source_digest",
    "text",
    "unrecognised_text",
    "whole_number",
]
