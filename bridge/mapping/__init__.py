"""Mapping a retailer's own records onto the bridge's events: a small declarative language.

A source topic in the retailer's schema declares, in the YAML config, how each field of the
bridge's `Order` or `ProductView` (schemas/) is found in its records. `compile_mapping` turns
that declaration into accessors once, at config load; `SourceMapping.apply` then builds one event
per record without parsing anything. Pure: no I/O, no clock, no code from the config is run.

```yaml
mapping:
  order_id: orderNumber                       # a path: dotted names, [2], ["key.with.dots"]
  occurred_at: {path: createdAt, convert: iso8601}
  currency: {path: currency, default: EUR}
  total: {path: totals.grandTotalCents, convert: cents}
  customer:                                   # a record: its fields, each a value
    email: {path: billing.email, convert: email}
  visitor_id: {header: x-qubit-id}            # a Kafka header (UTF-8)
  event_id: {key: true}                       # the record key (UTF-8)
  channel: {const: web}
  vendor_ids: {qubit: tracking.qubitId}       # a map: its keys, each a value ...
  attributes: {path: extra}                   # ... or a path to a map of strings
  items:                                      # an array of records: one per source element
    each: lineItems
    fields: {product_id: sku, quantity: qty, price: {path: unitPrice, convert: cents}}
  coupons: {each: discounts, value: code}     # an array of strings (or a path to one)
```

Inside ``each``, paths start at the element; ``$.name`` starts at the record's root. A value
is a path, header, key or constant, then ``convert`` (one name or a list, applied in order;
`CONVERSIONS`) and ``default``. A source value that is absent or null is missing: the default
is used, else null where the field is optional, else the record cannot be mapped. A field
of the event the mapping does not name takes the schema's default; one without a default
must be named.

A record the mapping cannot handle raises `SourceMappingError` with the event field, where it
was read from and a short reason, never the value itself (it may be personal data).
"""

from bridge.mapping.compiled import Accessor, SourceMapping, Use
from bridge.mapping.compiler import SPEC_KEYS, compile_mapping
from bridge.mapping.conversions import CONVERSIONS, KINDS, Conversion
from bridge.mapping.errors import MappingSpecError, SourceMappingError
from bridge.mapping.paths import EACH, Segment, parse_path, show_path
from bridge.mapping.target import Target, target_kind, target_of

__all__ = [
    "CONVERSIONS",
    "EACH",
    "KINDS",
    "SPEC_KEYS",
    "Accessor",
    "Conversion",
    "MappingSpecError",
    "Segment",
    "SourceMapping",
    "SourceMappingError",
    "Target",
    "Use",
    "compile_mapping",
    "parse_path",
    "show_path",
    "target_kind",
    "target_of",
]
