"""Tables of the imports service (schema `imports`). The platform tables (outbox, consumed offsets,
processed message ids) come from tj_common; the imports domain tables arrive with its issue."""

from tj_common.db import service_metadata

metadata = service_metadata("imports")
