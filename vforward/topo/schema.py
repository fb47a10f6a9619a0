"""The shape of a topology file, checked with pydantic before the lab is built.

`check_document(doc)` takes the document as `yamlsource.load_located` read
it and raises `SchemaError` for the first place that breaks the schema:
an unknown key (with the nearest known one), a missing key, a value of the
wrong type (a list where text belongs, text where a list belongs, a word
where a number belongs) or a value outside its choices.  The message names
file:line from the located document and says what to write instead.

What the schema cannot see (a link naming a node that does not exist, an
interface used twice, a duration that does not parse) is checked in
`vforward.topo.model`, which reads the same document afterwards.

Adding a key to the format: add one field to the section's class below, with
its type, default and a `description` that shows an example (it becomes the
hint of the error message); then read it in model.py with `spec.get(name)`.
A link's `transport:` is, in `LinkSpec`:

    transport: Choice("inprocess", "shm", "udp") | None = None
"""
from __future__ import annotations

import types
import typing
from typing import Annotated

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      ValidationError, model_validator)

from vforward.config.errors import did_you_mean
from vforward.topo.yamlsource import LocatedDict, LocatedList


class SchemaError(ValueError):
    """A document that breaks the schema; str() is 'file:line: message'."""


# -- value types ---------------------------------------------------------------------

def _number_as_text(value):
    # YAML reads `delay: 10` or `name: 2024` as numbers; they are fine as text.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_number_as_text)]


def Choice(*choices: str):
    """Text that must be one of `choices`; a near miss gets a did-you-mean."""
    def check(value: str) -> str:
        if value not in choices:
            hint = did_you_mean(value, choices)
            raise ValueError(f"'{value}' is not {' or '.join(choices)}" +
                             (f"; did you mean '{hint}'?" if hint else ""))
        return value
    return Annotated[Text, AfterValidator(check)]


Count = Annotated[int, Field(ge=1)]


class _Section(BaseModel):
    # Strict: `count: "3"` or `cost: true` are mistakes, not numbers.
    model_config = ConfigDict(extra="forbid", strict=True)


# -- the sections, inner first ---------------------------------------------------------

class ImpairSpec(_Section):
    delay: Text | None = Field(None, description="a duration such as 10ms")
    jitter: Text | None = Field(None, description="a duration such as 1ms")
    loss: Text | None = Field(None, description="a share such as 1% or 0.01")
    rate: Text | None = Field(None, description="a rate such as 10mbit")
    queue: Count | None = Field(None, description="a number of packets such as 100")


def _neighbor_shorthand(value):
    return {"peer": value} if isinstance(value, str) else value


class BGPNeighborSpec(_Section):
    peer: Text | None = Field(None, description="a router of the lab, such as r2")
    address: Text | None = Field(None, description="an IPv4 address such as 192.0.2.9")
    asn: Count | None = Field(None, le=4294967295, description="an AS number such as 65002")


class BGPSpec(_Section):
    asn: int = Field(ge=1, le=4294967295, description="an AS number such as 65001")
    neighbors: list[Annotated[BGPNeighborSpec, BeforeValidator(_neighbor_shorthand)]] | None = \
        Field(None, description="a list such as [r2, {address: 192.0.2.9, asn: 65100}]")


class ResourcesSpec(_Section):
    cpu: float | None = Field(None, gt=0, le=1024, description="a share of CPUs such as 0.5")
    memory: Text | None = Field(None, description="a size such as 256M")


class EgressSpec(_Section):
    address: Text | None = Field(None, description="the node's source address with its prefix "
                                                   "on the link to this machine, such as 100.64.7.2/30")
    peer: Text | None = Field(None, description="this machine's address on that link, such as 100.64.7.1")
    device: Text | None = Field(None, description="the link's device name on this machine, such as vfe-lab1")
class IngressSpec(_Section):
    listen: Text | None = Field(None, description="the machine's address OpenVPN listens on, "
                                                  "such as 198.51.100.1 (default 0.0.0.0)")
    port: int | None = Field(None, ge=1, le=65535, description="a UDP port such as 1194")
    proto: Choice("udp") | None = None
    pool: Text | None = Field(None, description="the clients' prefix such as 10.8.0.0/24")
    remote: Text | None = Field(None, description="the address clients' profiles connect to, "
                                                  "such as 198.51.100.1 (default: listen)")


class NodeSpec(_Section):
    kind: Choice("router", "host") | None = None
    routing: Choice("static", "ospf") | None = None
    host: Text | None = Field(None, description="a host declared under 'hosts'")
    config: Text | None = Field(None, description="the path of a .click file")
    extra: Text | None = Field(None, description="Click text, e.g. 'extra: |' and indented lines")
    loopback: Text | None = Field(None, description="an address such as 10.255.0.9/32")
    bgp: BGPSpec | None = Field(None, description="{asn: N, neighbors: [...]}")
    ipv6: bool | None = Field(None, description="true for IPv6 beside IPv4 (dual-stack)")
    loopback6: Text | None = Field(None, description="an address such as 2001:db8:ff::9/128")
    resources: ResourcesSpec | None = Field(None, description="{cpu: 0.5, memory: 256M}")
    egress: EgressSpec | bool | None = Field(None, description="true, or {address: 100.64.7.2/30}")
    ingress: IngressSpec | None = Field(None, description="{listen: 198.51.100.1, port: 1194}")


class DefaultsSpec(NodeSpec):
    impair: ImpairSpec | None = None


class LinkSpec(_Section):
    endpoints: list[Text] = Field(min_length=2, max_length=2,
                                  description='exactly two ends such as ["r1:eth1", "r2:eth1"]')
    impair: ImpairSpec | None = None
    state: Choice("up", "down") | None = None
    addresses: list[Text] | None = Field(None, min_length=2, max_length=2,
                                         description="two ADDR/LEN such as [10.9.0.1/30, 10.9.0.2/30]")
    subnet: Text | None = Field(None, description="a prefix such as 10.9.0.0/30")
    cost: Count | None = Field(None, description="a positive number such as 10")
    transport: Choice("inprocess", "shm", "udp") | None = None
    ipv6: bool | None = Field(None, description="true for IPv6 beside IPv4 (dual-stack)")
    mtu: int | None = Field(None, ge=1280, le=9000, description="the link's MTU, such as 1400")
    subnet6: Text | None = Field(None, description="an IPv6 prefix such as 2001:db8:99::/64")


class TopologySpec(_Section):
    nodes: dict[Text, NodeSpec | None] = Field(description="a mapping such as 'r1: {kind: router}'")
    links: list[LinkSpec] | None = Field(None, description="a list of '- endpoints: [a:eth1, b:eth1]'")


class CheckSpec(_Section):
    from_: Text = Field(alias="from", description="a node such as h1")
    to: Text = Field(description="a node or an address")
    count: Count | None = Field(None, description="a number of pings such as 3")
    path: list[Text] | None = Field(None, description="a list of routers such as [r1, r2]")
    family: Choice("ipv4", "ipv6") | None = None


class ValidationSpec(_Section):
    reach: CheckSpec | None = None
    ping: CheckSpec | None = None
    traceroute: CheckSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_check(cls, value):
        if isinstance(value, dict) and len(value) != 1:
            raise ValueError("each validation is one check: reach, ping or traceroute, "
                             "e.g. '- ping: {from: h1, to: h2}'")
        if isinstance(value, dict) and None in value.values():
            raise ValueError(f"'{next(iter(value))}' needs 'from' and 'to', "
                             "e.g. '- ping: {from: h1, to: h2}'")
        return value


class HostSpec(_Section):
    address: Text = Field(description="its IPv4 or IPv6 underlay address, such as 192.0.2.10 or "
                                     "2001:db8::10 (all hosts of a lab of one family)")
    mtu: int | None = Field(None, ge=576, le=65535,
                            description="the underlay MTU in bytes, such as 1500 (the default)")


class AddressingSpec(_Section):
    p2p: Text | None = Field(None, description="a prefix such as 10.0.0.0/16")
    p2p_prefix: int | None = Field(None, description="30 or 31")
    loopback: Text | None = Field(None, description="a prefix such as 10.255.0.0/24")
    lan: Text | None = Field(None, description="a prefix such as 172.16.0.0/16")
    # IPv6 of dual-stack labs: a /64 per link, a /128 loopback per router.
    p2p6: Text | None = Field(None, description="a prefix such as 2001:db8::/48")
    lan6: Text | None = Field(None, description="a prefix such as 2001:db8:1::/48")
    loopback6: Text | None = Field(None, description="a prefix such as 2001:db8:ff::/64")


class TopologyFile(_Section):
    name: Text = Field(description="lower-case letters, digits and '-', at most 12 characters")
    routing: Choice("static", "ospf") | None = None
    restart: Choice("always", "on-failure", "never") | None = None
    ipv6: bool | None = Field(None, description="true for IPv6 beside IPv4 (dual-stack)")
    resources: ResourcesSpec | None = Field(None, description="{cpu: 2, memory: 1G} for the whole lab")
    defaults: DefaultsSpec | None = None
    hosts: dict[Text, HostSpec | None] | None = None
    addressing: AddressingSpec | None = None
    topology: TopologySpec = Field(description="a mapping with 'nodes' and 'links'")
    validate_: list[ValidationSpec] | None = Field(None, alias="validate",
                                                   description="a list such as '- reach: {from: h1, to: h2}'")
    # A scenario may ride in the lab file; vforward.experiment.scenario checks these.
    measure: typing.Any = None
    events: typing.Any = None
    duration: typing.Any = None


# -- checking and reporting -------------------------------------------------------------

def check_document(doc, model: type[BaseModel] = TopologyFile, where: str | None = None) -> None:
    """Raise SchemaError (file:line: what and the fix) if `doc` breaks `model`.

    `where` locates a section that was not read from a file (a dict built in
    code, e.g. an impairment given on the command line)."""
    try:
        model.model_validate(doc)
    except ValidationError as e:
        errors = e.errors()
        # An unknown key is most often a misspelt known one, which then is also missing:
        # name the unknown key (with the suggestion) rather than the missing one.
        first = next((err for err in errors if err["type"] == "extra_forbidden"), errors[0])
        raise SchemaError(_message(doc, model, first, where)) from None


def _locate(doc, loc) -> str:
    """file:line of the deepest part of `loc` that the located document knows."""
    where, obj = None, doc
    for part in loc:
        if isinstance(obj, LocatedDict) and part in obj:
            where, obj = obj.where(part), obj[part]
        elif isinstance(obj, LocatedList) and isinstance(part, int) and part < len(obj):
            where, obj = obj.where(part), obj[part]
        else:
            break
    if where is None and isinstance(obj, (LocatedDict, LocatedList)):
        where = obj.where()
    return where or ""


def _unwrap(tp):
    """The model or container inside Optional[...] and Annotated[...]."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _fields(tp) -> dict:
    """A section's fields by the key written in the file ('from', not 'from_')."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {f.alias or n: f for n, f in tp.model_fields.items()}
    return {}


def _type_at(model, loc):
    """The annotation of the place `loc` names, or None where it leaves the schema."""
    tp = model
    for part in loc:
        tp = _unwrap(tp)
        if _fields(tp):
            if part not in _fields(tp):
                return None
            tp = _fields(tp)[part].annotation
        elif typing.get_origin(tp) in (list, dict) and part != "[key]":
            tp = typing.get_args(tp)[-1]
        else:
            return None
    return tp


def _field(model, loc):
    """The FieldInfo of the key `loc` ends in (an item or a key: its list's or mapping's)."""
    while loc and not isinstance(loc[-1], str) or loc and loc[-1] == "[key]":
        loc = loc[:-1]
    return _fields(_unwrap(_type_at(model, loc[:-1]))).get(loc[-1]) if loc else None


def _path(loc) -> str:
    """'topology.links.cost' for ('topology', 'links', 2, 'cost'); items are named by the
    line, so their index is left out."""
    named = ".".join(str(p) for p in loc if isinstance(p, str) and p != "[key]") or "the file"
    if loc and loc[-1] == "[key]":
        return f"each key of {named}"
    return f"each item of {named}" if loc and isinstance(loc[-1], int) else named


def _describe(value) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list {value!r}" if len(repr(value)) < 40 else "a list"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    return repr(value)


def _items(ctx: dict) -> str:
    low, high = ctx.get("min_length"), ctx.get("max_length")
    if low is not None and low == high:
        return f"exactly {low} items"
    return f"at least {low} items" if low is not None else f"at most {high} items"


_BOUNDS = {"greater_than_equal": "at least", "greater_than": "more than",
           "less_than_equal": "at most", "less_than": "less than"}


def _message(doc, model, err: dict, where: str | None) -> str:
    loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
    place = _locate(doc, loc) or where or "<topology>"
    what = _path(loc)
    info = _field(model, loc)
    example = f" ({info.description})" if info is not None and info.description else ""
    if kind == "extra_forbidden":
        known = list(_fields(_unwrap(_type_at(model, loc[:-1]))))
        hint = did_you_mean(str(loc[-1]), known)
        section = ".".join(str(p) for p in loc[:-1] if isinstance(p, str)) or "the file"
        return (f"{place}: unknown key '{loc[-1]}' in {section}" +
                (f"; did you mean '{hint}'?" if hint else f"; known keys: {', '.join(known)}"))
    if kind == "missing":
        section = _path(loc[:-1])
        return f"{place}: {section} needs '{loc[-1]}'{example}"
    if kind in ("string_type", "str_type"):
        return f"{place}: {what} must be a single value{example}, not {_describe(value)}"
    if kind.startswith("int_") or kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{place}: {what} must be a whole number{example}, not {_describe(value)}"
    if kind in _BOUNDS:
        bound = next(iter(err["ctx"].values()))
        return f"{place}: {what} must be {_BOUNDS[kind]} {bound}{example}, not {_describe(value)}"
    if kind == "list_type":
        fix = f"; write [{value}]" if isinstance(value, (str, int, float)) else ""
        return f"{place}: {what} must be a list{example}, not {_describe(value)}{fix}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{place}: {what} must be a mapping (key: value lines), not {_describe(value)}"
    if kind in ("too_short", "too_long"):
        return f"{place}: {what} must list {_items(err['ctx'])}{example}, not {_describe(value)}"
    if kind == "value_error":
        text = str(err["ctx"]["error"])
        return f"{place}: {text}" if what == "the file" or isinstance(loc[-1], int) \
            else f"{place}: {what}: {text}"
    return f"{place}: {what}: {err['msg']}{example}"
