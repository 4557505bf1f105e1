"""Tables of the billing service (schema `billing`). The platform tables (outbox, consumed offsets,
processed message ids) come from tj_common; the billing domain tables arrive with its issue."""

from tj_common.db import service_metadata

metadata = service_metadata("billing")
