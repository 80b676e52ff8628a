#!/usr/bin/env python3
"""Generates kafka-producer-proto/src/wire/messages/ from Kafka's JSON message schemas.

The schemas (spec/messages/*.json, Apache Kafka's own, Apache-2.0) are the
authority for every field, type, version range, nullability and tag.
Generating the codec from them, rather than writing eleven APIs by hand, is what
keeps every version of every message right; the checked-in output is ordinary
Rust that can be read and reviewed.

Usage: python3 tools/codegen/messages.py [SCHEMA_DIR] [OUT_DIR]
       python3 tools/codegen/messages.py --check   (fails if the output is stale)
"""

import json
import os
import re
import sys
import tempfile
import filecmp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_SCHEMAS = os.path.join(ROOT, "spec", "messages")
DEFAULT_OUT = os.path.join(ROOT, "kafka-producer-proto", "src", "wire", "messages")

# The APIs the producer speaks, in file order: (file stem, schema base name).
APIS = [
    ("api_versions", "ApiVersions"),
    ("metadata", "Metadata"),
    ("produce", "Produce"),
    ("init_producer_id", "InitProducerId"),
    ("find_coordinator", "FindCoordinator"),
    ("add_partitions_to_txn", "AddPartitionsToTxn"),
    ("add_offsets_to_txn", "AddOffsetsToTxn"),
    ("end_txn", "EndTxn"),
    ("txn_offset_commit", "TxnOffsetCommit"),
    ("sasl_handshake", "SaslHandshake"),
    ("sasl_authenticate", "SaslAuthenticate"),
]

# Versions we leave out on purpose, per API: Produce v0-v2 carry message sets
# of magic 0/1, which predate record batches (and idempotence).
MIN_VERSION_OVERRIDE = {"Produce": 3}

# The highest version a client may negotiate, where it is below what the
# codec implements: AddPartitionsToTxn v4+ is the broker-to-broker form
# (KIP-890: a batch of transactions with VerifyOnly); Kafka's own client
# stops at v3. The codec still encodes and decodes every version.
CLIENT_MAX_VERSION = {"AddPartitionsToTxn": 3}

# Every schema key this generator understands. Anything else fails the run:
# a new marker (as `latestVersionUnstable` once was) must be read and
# handled, not silently ignored.
KNOWN_SCHEMA_KEYS = {
    "apiKey", "type", "listeners", "name", "validVersions", "deprecatedVersions",
    "flexibleVersions", "latestVersionUnstable", "fields", "commonStructs",
}
KNOWN_FIELD_KEYS = {
    "name", "type", "versions", "about", "nullableVersions", "taggedVersions", "tag",
    "ignorable", "default", "entityType", "mapKey", "flexibleVersions", "fields",
    # Whether Kafka's Java code copies a bytes field: no wire meaning.
    "zeroCopy",
}
KNOWN_COMMON_STRUCT_KEYS = {"name", "versions", "fields"}


def check_keys(where, js, known):
    unknown = sorted(set(js) - known)
    if unknown:
        raise SystemExit(f"{where}: schema keys this generator does not know: {unknown}")

PRIMS = {
    "bool": "bool",
    "int8": "i8",
    "int16": "i16",
    "uint16": "u16",
    "int32": "i32",
    "uint32": "u32",
    "int64": "i64",
    "float64": "f64",
    "uuid": "Uuid",
}
INT_READ = {"int8": "i8", "int16": "i16", "uint16": "u16", "int32": "i32", "uint32": "u32", "int64": "i64", "float64": "f64"}


def load(path):
    with open(path, encoding="utf-8") as f:
        text = "\n".join(line for line in f if not line.lstrip().startswith("//"))
    return json.loads(text)


def parse_versions(s, valid_hi=None):
    """'3+' -> (3, None); '0-3' -> (0, 3); '5' -> (5, 5); 'none' -> None."""
    if s is None or s == "none":
        return None
    s = str(s).strip()
    if s.endswith("+"):
        return (int(s[:-1]), None)
    if "-" in s:
        a, b = s.split("-")
        return (int(a), int(b))
    return (int(s), int(s))


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.lower()
    if s in ("type", "match", "ref", "mod", "fn", "struct", "enum", "loop", "move", "self", "use"):
        s = "r#" + s
    return s


def rs_str(s):
    return json.dumps(s)


def doc(text, indent):
    text = (text or "").strip()
    out = []
    for line in wrap(text, 88 - len(indent)):
        out.append(f"{indent}/// {line}".rstrip())
    return "\n".join(out)


def wrap(text, width):
    words = text.split()
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return lines or [""]


def escape_doc(text):
    # Square brackets in schema prose would be read as intra-doc links.
    return (text or "").replace("[", "\\[").replace("]", "\\]").replace("<", "&lt;").replace(">", "&gt;")


class Field:
    def __init__(self, js, msg):
        check_keys(f"{msg.name}.{js.get('name')}", js, KNOWN_FIELD_KEYS)
        self.name = js["name"]
        self.rust = snake(self.name)
        self.type = js["type"]
        self.versions = parse_versions(js.get("versions"))
        if self.versions is None:
            raise SystemExit(f"{msg.name}.{self.name}: field without versions")
        self.nullable = parse_versions(js.get("nullableVersions"))
        self.tagged = parse_versions(js.get("taggedVersions"))
        self.tag = js.get("tag")
        self.ignorable = bool(js.get("ignorable", False))
        self.default = js.get("default")
        self.about = js.get("about", "")
        # A field may opt out of compact encodings (the request header's ClientId).
        self.flex_override = "flexibleVersions" in js and parse_versions(js["flexibleVersions"])
        self.has_flex_override = "flexibleVersions" in js
        self.is_array = self.type.startswith("[]")
        self.elem = self.type[2:] if self.is_array else self.type
        self.struct = None  # filled for struct-typed fields and struct arrays
        if "fields" in js:
            self.struct = Struct(self.elem, js.get("about", ""), js["fields"], msg)
        if self.tagged is not None and self.tag is None:
            raise SystemExit(f"{msg.name}.{self.name}: tagged without tag")

    @property
    def elem_is_prim(self):
        return self.elem in PRIMS or self.elem in ("string", "bytes", "records")

    def rust_elem_type(self):
        e = self.elem
        if e in PRIMS:
            return PRIMS[e]
        if e == "string":
            return "String"
        if e in ("bytes", "records"):
            return "Bytes"
        return e

    def rust_type(self):
        t = self.rust_elem_type()
        if self.is_array:
            t = f"Vec<{t}>"
        if self.nullable is not None:
            t = f"Option<{t}>"
        return t

    def default_expr(self):
        d = self.default
        if self.is_array:
            inner = "Vec::new()"
            return f"Some({inner})" if self.nullable is not None else inner
        e = self.elem
        if e in ("string", "bytes", "records"):
            if d == "null":
                if self.nullable is None:
                    raise SystemExit(f"{self.name}: null default on a non-nullable field")
                return "None"
            if e == "string":
                val = f"String::from({rs_str(d)})" if d not in (None, "") else "String::new()"
            else:
                if d not in (None, ""):
                    raise SystemExit(f"{self.name}: byte default unsupported")
                val = "Bytes::new()"
            if self.nullable is not None:
                if e == "records" and d is None:
                    return "None"
                return f"Some({val})"
            return val
        if e == "bool":
            if d in (None, False, "false"):
                return "false"
            if d in (True, "true"):
                return "true"
            raise SystemExit(f"{self.name}: bad bool default {d!r}")
        if e == "uuid":
            return "Uuid([0; 16])"
        if e in INT_READ:
            if d is None:
                return "0"
            v = int(str(d), 0)
            if e == "float64":
                return f"{float(v)}"
            return str(v)
        # A struct-typed (non-array) field.
        return f"{e}::default()"


class Struct:
    def __init__(self, name, about, fields_js, msg):
        self.name = name
        self.about = about
        self.msg = msg
        # A field only versions outside the generated range have (InitProducerId
        # v6's two-phase-commit fields while v6 is unstable) is left out: no
        # version this codec speaks could carry it.
        self.fields = [Field(f, msg) for f in fields_js if msg.speaks(f)]
        msg.register(self)

    def has_float(self):
        return any(f.elem == "float64" or (f.struct and f.struct.has_float()) for f in self.fields)


def stable_range(js, min_override=None, max_cap=None):
    """The versions to generate: the schema's valid range, from `min_override`
    up, without a version the schema marks unstable, and at most `max_cap`
    (a response follows its request's cap: only request schemas carry the
    unstable marker)."""
    check_keys(js.get("name", "?"), js, KNOWN_SCHEMA_KEYS)
    lo, hi = parse_versions(js["validVersions"])
    if min_override is not None:
        lo = max(lo, min_override)
    unstable = js.get("latestVersionUnstable", False)
    if unstable not in (True, False):
        raise SystemExit(f"{js['name']}: latestVersionUnstable is {unstable!r}")
    if unstable:
        hi -= 1
    if max_cap is not None:
        hi = min(hi, max_cap)
    if hi is None or hi < lo:
        raise SystemExit(f"{js['name']}: no stable version to generate")
    return lo, hi


class Message:
    def __init__(self, js, versions):
        self.name = js["name"]
        self.kind = js["type"]
        self.api_key = js.get("apiKey")
        self.lo, self.hi = versions
        self.flexible = parse_versions(js.get("flexibleVersions"))
        self.structs = {}
        self.common = {}
        for c in js.get("commonStructs", []):
            check_keys(f"{self.name}.{c.get('name')}", c, KNOWN_COMMON_STRUCT_KEYS)
            self.common[c["name"]] = c
        self.top = Struct(self.name, js.get("about", ""), js["fields"], self)
        # Common structs are referenced by name from fields without "fields".
        for name, c in self.common.items():
            if name not in self.structs:
                Struct(name, c.get("about", ""), c["fields"], self)
        self.resolve(self.top)
        for s in list(self.structs.values()):
            self.resolve(s)

    def speaks(self, field_js):
        """Whether any generated version has this field."""
        r = parse_versions(field_js.get("versions"))
        return r is None or (r[0] <= self.hi and (r[1] is None or r[1] >= self.lo))

    def register(self, s):
        if s.name in self.structs:
            raise SystemExit(f"{self.name}: struct {s.name} defined twice")
        self.structs[s.name] = s

    def resolve(self, s):
        for f in s.fields:
            if f.struct is None and not f.elem_is_prim:
                if f.elem not in self.structs:
                    raise SystemExit(f"{self.name}: unknown type {f.elem}")
                f.struct = self.structs[f.elem]


def in_range(v, r):
    if r is None:
        return False
    lo, hi = r
    return v >= lo and (hi is None or v <= hi)


def cond(r, lo, hi):
    """A Rust condition on `version` that is true exactly on r within [lo, hi]."""
    if r is None:
        return "false"
    a, b = r
    parts = []
    if a > lo:
        parts.append(f"version >= {a}")
    if b is not None and b < hi:
        parts.append(f"version <= {b}")
    if b is not None and b < lo:
        return "false"
    if hi is not None and a > hi:
        return "false"
    return " && ".join(parts) if parts else "true"


class Gen:
    def __init__(self, msg):
        self.msg = msg
        self.lo, self.hi = msg.lo, msg.hi
        self.out = []

    def in_trait(self, top):
        return top and self.msg.api_key is not None

    def flex_expr(self, f):
        if f.has_flex_override:
            if f.flex_override is None:
                return "false"
            return cond(f.flex_override, self.lo, self.hi)
        return "flexible"

    # ---- encoding --------------------------------------------------------

    def encode_value(self, f, expr, elem_expr_ref, ind, flex):
        """Statements that write `expr` (a reference to the field value)."""
        e = f.elem
        L = []
        what = rs_str(f.name)

        def scalar(x, deref):
            v = f"*{x}" if deref else x
            if e == "bool":
                return f"put_bool(buf, {v});"
            if e == "uuid":
                return f"put_uuid(buf, {x if not deref else x});"
            if e in INT_READ:
                return f"buf.put_{INT_READ[e]}({v});"
            if e == "string":
                return f"put_string(buf, {x}, {flex}, {what})?;"
            if e in ("bytes", "records"):
                return f"put_bytes(buf, {x}, {flex}, {what})?;"
            return f"{x}.encode(buf, version)?;"

        if f.is_array:
            def arr(v):
                return [
                    f"put_array_len(buf, Some({v}.len()), {flex}, {what})?;",
                    f"for item in {v}.iter() {{",
                    f"    {scalar('item', True)}",
                    "}",
                ]
            if f.nullable is not None:
                L.append(f"match &{expr} {{")
                L.append("    None => put_array_len(buf, None, " + flex + ", " + what + ")?,")
                L.append("    Some(v) => {")
                L += ["        " + x for x in arr("v")]
                L.append("    }")
                L.append("}")
            else:
                L += arr(expr)
        elif e in ("string", "bytes", "records") and f.nullable is not None:
            fn = "put_nullable_string" if e == "string" else "put_nullable_bytes"
            L.append(f"{fn}(buf, {expr}.as_deref(), {flex}, {what})?;")
        elif e in ("string",):
            L.append(f"put_string(buf, &{expr}, {flex}, {what})?;")
        elif e in ("bytes", "records"):
            L.append(f"put_bytes(buf, &{expr}, {flex}, {what})?;")
        elif e == "uuid":
            L.append(f"put_uuid(buf, &{expr});")
        elif e == "bool":
            L.append(f"put_bool(buf, {expr});")
        elif e in INT_READ:
            L.append(f"buf.put_{INT_READ[e]}({expr});")
        else:
            L.append(f"{expr}.encode(buf, version)?;")
        return [ind + x for x in L]

    def null_check(self, f, expr, ind):
        if f.nullable is None:
            return []
        c = cond(f.nullable, self.lo, self.hi)
        if c == "true":
            return []
        what = rs_str(f.name)
        neg = "true" if c == "false" else f"!({c})"
        return [
            f"{ind}if {expr}.is_none() && {neg} {{",
            f"{ind}    return Err(EncodeError::NullNotAllowed {{ field: {what}, version }});",
            f"{ind}}}",
        ]

    def is_default_expr(self, f, expr):
        d = f.default_expr()
        if f.is_array and f.nullable is None:
            return f"{expr}.is_empty()"
        if f.is_array:
            return f"{expr}.as_ref().is_some_and(|v| v.is_empty())"
        if f.elem in PRIMS or f.elem in ("string", "bytes", "records"):
            if f.elem == "string" and f.nullable is None:
                return f"{expr} == {rs_str(f.default or '')}" if f.default not in (None, "") else f"{expr}.is_empty()"
            if f.elem in ("bytes", "records") and f.nullable is None:
                return f"{expr}.is_empty()"
            if f.nullable is not None and d == "None":
                return f"{expr}.is_none()"
            if f.nullable is not None:
                return f"{expr}.as_deref() == Some({rs_str(f.default or '')})" if f.elem == "string" else f"{expr}.as_ref().is_some_and(|b| b.is_empty())"
            return f"{expr} == {d}"
        return f"{expr} == {d}"

    def encode_struct(self, s, top):
        msg = self.msg
        L = []
        L.append("    /// Writes this value in the given version.")
        if not top:
            L[-1] = "    /// Writes this value as it appears inside a message of the given version."
        vis = "" if self.in_trait(top) else "pub "
        if self.in_trait(top):
            L = []
        L.append(f"    {vis}fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{")
        if top:
            L.append(f"        if !(Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version) {{")
            L.append(f"            return Err(EncodeError::UnsupportedVersion {{ api_key: {msg.api_key if msg.api_key is not None else -1}, version }});")
            L.append("        }")
        uses_flex = any(not f.has_flex_override for f in s.fields) or msg.flexible is not None
        fc = cond(msg.flexible, self.lo, self.hi)
        L.append(f"        let flexible = {fc};")
        tagged = [f for f in s.fields if f.tagged is not None]
        for f in s.fields:
            expr = f"self.{f.rust}"
            fflex = self.flex_expr(f)
            if f.tagged is not None:
                continue
            present = cond(f.versions, self.lo, self.hi)
            body = self.null_check(f, expr, "            ") + self.encode_value(f, expr, None, "            ", fflex)
            if present == "true":
                L += [x[4:] for x in body]
            else:
                L.append(f"        if {present} {{")
                L += body
                if f.ignorable:
                    L.append("        }")
                else:
                    L.append(f"        }} else if !({self.is_default_expr(f, expr)}) {{")
                    L.append(f"            return Err(EncodeError::FieldNotInVersion {{ field: {rs_str(f.name)}, version }});")
                    L.append("        }")
        if msg.flexible is not None:
            L.append("        if flexible {")
            if tagged:
                L.append("            let mut known = Vec::new();")
                for f in tagged:
                    expr = f"self.{f.rust}"
                    tc = cond(f.tagged, self.lo, self.hi)
                    L.append(f"            if {tc} && !({self.is_default_expr(f, expr)}) {{")
                    L.append("                let mut field = BytesMut::new();")
                    L.append("                {")
                    L.append("                    let buf = &mut field;")
                    L += self.encode_value(f, expr, None, "                    ", "true")
                    L.append("                }")
                    L.append(f"                known.push(({f.tag}u32, field));")
                    if not f.ignorable:
                        L.append(f"            }} else if !({tc}) && !({self.is_default_expr(f, expr)}) {{")
                        L.append(f"                return Err(EncodeError::FieldNotInVersion {{ field: {rs_str(f.name)}, version }});")
                    L.append("            }")
                L.append("            put_tagged_fields(buf, &mut known, &self.unknown_tagged_fields);")
            else:
                L.append("            put_tagged_fields(buf, &mut [], &self.unknown_tagged_fields);")
            L.append("        }")
        L.append("        Ok(())")
        L.append("    }")
        return L

    # ---- decoding --------------------------------------------------------

    def decode_value(self, f, flex, nullable_cond):
        """An expression reading the field's value from `r`."""
        e = f.elem
        what = rs_str(f.name)

        def scalar():
            if e == "bool":
                return "r.bool()?"
            if e == "uuid":
                return "r.uuid()?"
            if e in INT_READ:
                return f"r.{INT_READ[e]}()?"
            if e == "string":
                return f"r.string({flex}, {what})?"
            if e in ("bytes", "records"):
                return f"r.bytes({flex}, {what})?"
            return f"{e}::decode(r, version)?"

        if f.is_array:
            read = (
                "{ let mut items = Vec::with_capacity(len.min(PREALLOC_LIMIT)); "
                f"for _ in 0..len {{ items.push({scalar()}); }} items }}"
            )
            if f.nullable is not None:
                if nullable_cond == "false":
                    return (f"match r.array_len({flex}, {what})? {{ Some(len) => Some({read}), "
                            f"None => return Err(DecodeError::UnexpectedNull {{ what: {what} }}) }}")
                if nullable_cond == "true":
                    return f"match r.array_len({flex}, {what})? {{ Some(len) => Some({read}), None => None }}"
                return (f"match r.array_len({flex}, {what})? {{ Some(len) => Some({read}), "
                        f"None if {nullable_cond} => None, None => return Err(DecodeError::UnexpectedNull {{ what: {what} }}) }}")
            return f"match r.array_len({flex}, {what})? {{ Some(len) => {read}, None => return Err(DecodeError::UnexpectedNull {{ what: {what} }}) }}"
        if e in ("string", "bytes", "records") and f.nullable is not None:
            kind = "string" if e == "string" else "bytes"
            if nullable_cond == "true":
                return f"r.nullable_{kind}({flex}, {what})?"
            if nullable_cond == "false":
                return f"Some(r.{kind}({flex}, {what})?)"
            return f"if {nullable_cond} {{ r.nullable_{kind}({flex}, {what})? }} else {{ Some(r.{kind}({flex}, {what})?) }}"
        return scalar()

    def decode_struct(self, s, top):
        msg = self.msg
        L = []
        if top:
            L.append("    /// Reads a value of the given version; the caller checks that the")
            L.append("    /// input then ends (see [`Reader::finish`]).")
        else:
            L.append("    /// Reads this value as it appears inside a message of the given version.")
        vis = "" if self.in_trait(top) else "pub "
        if self.in_trait(top):
            L = []
        L.append(f"    {vis}fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {{")
        if top:
            L.append(f"        if !(Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version) {{")
            L.append(f"            return Err(DecodeError::UnsupportedVersion {{ api_key: {msg.api_key if msg.api_key is not None else -1}, version }});")
            L.append("        }")
        fc = cond(msg.flexible, self.lo, self.hi)
        L.append(f"        let flexible = {fc};")
        tagged = [f for f in s.fields if f.tagged is not None]
        for f in s.fields:
            if f.tagged is not None:
                L.append(f"        let mut {f.rust} = {f.default_expr()};")
                continue
            present = cond(f.versions, self.lo, self.hi)
            nc = cond(f.nullable, self.lo, self.hi) if f.nullable is not None else "false"
            val = self.decode_value(f, self.flex_expr(f), nc)
            if present == "true":
                L.append(f"        let {f.rust} = {val};")
            else:
                L.append(f"        let {f.rust} = if {present} {{ {val} }} else {{ {f.default_expr()} }};")
        if msg.flexible is None:
            L.append("        let unknown_tagged_fields = Vec::new();")
        else:
            L.append("        let mut unknown_tagged_fields = Vec::new();")
            L.append("        if flexible {")
            if tagged:
                L.append("            r.tagged_fields(&mut unknown_tagged_fields, |tag, r| {")
                L.append("                match tag {")
                for f in tagged:
                    tc = cond(f.tagged, self.lo, self.hi)
                    guard = "" if tc == "true" else f" if {tc}"
                    nc = cond(f.nullable, self.lo, self.hi) if f.nullable is not None else "false"
                    L.append(f"                    {f.tag}{guard} => {{")
                    L.append(f"                        {f.rust} = {self.decode_value(f, 'true', nc)};")
                    L.append("                        Ok(true)")
                    L.append("                    }")
                L.append("                    _ => Ok(false),")
                L.append("                }")
                L.append("            })?;")
            else:
                L.append("            r.tagged_fields(&mut unknown_tagged_fields, |_, _| Ok(false))?;")
            L.append("        }")
        names = ", ".join([f.rust for f in s.fields] + ["unknown_tagged_fields"])
        L.append(f"        Ok(Self {{ {names} }})")
        L.append("    }")
        return L

    # ---- samples for round-trip tests -------------------------------------

    def sample_value(self, f, present_cond, nullable_cond, depth_var):
        e = f.elem

        def scalar():
            if e == "bool":
                return "rng.bool()"
            if e == "uuid":
                return "Uuid(rng.array16())"
            if e in INT_READ:
                return f"rng.next() as {PRIMS[e]}"
            if e == "string":
                return "rng.string()"
            if e in ("bytes", "records"):
                return "rng.bytes()"
            return f"{e}::sample(rng, version)"

        if f.is_array:
            val = f"(0..rng.below(3)).map(|_| {scalar()}).collect::<Vec<_>>()"
        else:
            val = scalar()
        if f.nullable is not None:
            if nullable_cond == "false":
                val = f"Some({val})"
            elif nullable_cond == "true":
                val = f"if rng.below(4) == 0 {{ None }} else {{ Some({val}) }}"
            else:
                val = f"if ({nullable_cond}) && rng.below(4) == 0 {{ None }} else {{ Some({val}) }}"
        if present_cond == "true":
            return val
        return f"if {present_cond} {{ {val} }} else {{ {f.default_expr()} }}"

    def sample_struct(self, s):
        L = []
        uses_version = any(
            cond(f.tagged if f.tagged is not None else f.versions, self.lo, self.hi) != "true"
            or (f.nullable is not None and cond(f.nullable, self.lo, self.hi) not in ("true", "false"))
            or f.struct is not None
            for f in s.fields
        ) or self.msg.flexible is not None
        vname = "version" if uses_version else "_version"
        L.append("    /// A pseudo-random value that the given version can carry.")
        L.append("    #[cfg(test)]")
        L.append(f"    pub(crate) fn sample(rng: &mut crate::wire::messages::SampleRng, {vname}: i16) -> Self {{")
        fc = cond(self.msg.flexible, self.lo, self.hi)
        if self.msg.flexible is not None:
            L.append(f"        let flexible = {fc};")
        for f in s.fields:
            r = f.tagged if f.tagged is not None else f.versions
            pc = cond(r, self.lo, self.hi)
            if f.tagged is not None:
                pc = "rng.bool()" if pc == "true" else f"({pc}) && rng.bool()"
            nc = cond(f.nullable, self.lo, self.hi) if f.nullable is not None else "false"
            L.append(f"        let {f.rust} = {self.sample_value(f, pc, nc, None)};")
        if self.msg.flexible is not None:
            L.append("        let unknown_tagged_fields = if flexible { rng.unknown_tagged_fields() } else { Vec::new() };")
        else:
            L.append("        let unknown_tagged_fields = Vec::new();")
        names = ", ".join([f.rust for f in s.fields] + ["unknown_tagged_fields"])
        L.append(f"        Self {{ {names} }}")
        L.append("    }")
        return L

    # ---- the struct itself -----------------------------------------------

    def struct_def(self, s, top):
        L = []
        about = s.about
        if top:
            kind = self.msg.kind
            about = about or f"The {self.msg.name[: -len(kind)] if self.msg.name.lower().endswith(kind) else self.msg.name} {kind}."
            L.append(doc(escape_doc(about), ""))
            L.append("///")
            vr = f"{self.lo}-{self.hi}"
            L.append(f"/// Versions {vr}" + (f", flexible from {self.msg.flexible[0]}." if self.msg.flexible else ", none flexible."))
        else:
            L.append(doc(escape_doc(about) or f"A `{s.name}` entry of [`{self.msg.name}`].", ""))
        derives = "Debug, Clone, PartialEq" + ("" if s.has_float() else ", Eq")
        L.append(f"#[derive({derives})]")
        L.append("#[non_exhaustive]")
        L.append(f"pub struct {s.name} {{")
        for f in s.fields:
            d = escape_doc(f.about).strip() or f"The `{f.name}` field."
            if d[-1] not in ".!?":
                d += "."
            vr = f.versions
            vtxt = f"{vr[0]}+" if vr[1] is None else f"{vr[0]}-{vr[1]}"
            extra = f" Versions {vtxt}."
            if f.nullable is not None:
                nv = f.nullable
                extra += f" Nullable in {nv[0]}+." if nv[1] is None else f" Nullable in {nv[0]}-{nv[1]}."
            if f.tagged is not None:
                extra += f" Tagged field {f.tag}."
            L.append(doc(d + extra, "    "))
            L.append(f"    pub {f.rust}: {f.rust_type()},")
        L.append("    /// Tagged fields this codec does not know, kept so the message re-encodes as received.")
        L.append("    pub unknown_tagged_fields: Vec<RawTaggedField>,")
        L.append("}")
        L.append("")
        L.append(f"impl Default for {s.name} {{")
        L.append("    fn default() -> Self {")
        L.append("        Self {")
        for f in s.fields:
            L.append(f"            {f.rust}: {f.default_expr()},")
        L.append("            unknown_tagged_fields: Vec::new(),")
        L.append("        }")
        L.append("    }")
        L.append("}")
        L.append("")
        L.append(f"impl {s.name} {{")
        for f in s.fields:
            plain = f.rust[2:] if f.rust.startswith("r#") else f.rust
            L.append(f"    /// Sets `{f.name}`.")
            L.append(f"    pub fn with_{plain}(mut self, value: {f.rust_type()}) -> Self {{")
            L.append(f"        self.{f.rust} = value;")
            L.append("        self")
            L.append("    }")
            L.append("")
        if top and not self.in_trait(top):
            L.append(f"    /// The lowest version this codec implements.")
            L.append(f"    pub const MIN_VERSION: i16 = {self.lo};")
            L.append(f"    /// The highest version this codec implements.")
            L.append(f"    pub const MAX_VERSION: i16 = {self.hi};")
            fl = self.msg.flexible[0] if self.msg.flexible else "i16::MAX"
            L.append(f"    /// The first flexible version (compact encodings, tagged fields).")
            L.append(f"    pub const FIRST_FLEXIBLE_VERSION: i16 = {fl};")
            L.append("")
        if self.in_trait(top):
            self.trait_body = self.encode_struct(s, top) + [""] + self.decode_struct(s, top)
        else:
            L += self.encode_struct(s, top)
            L.append("")
            L += self.decode_struct(s, top)
            L.append("")
        L += self.sample_struct(s)
        L.append("}")
        L.append("")
        return L


def gen_message(msg):
    g = Gen(msg)
    L = []
    # The top-level struct first, then nested ones in definition order.
    L += g.struct_def(msg.top, True)
    for name, s in msg.structs.items():
        if s is msg.top:
            continue
        L += g.struct_def(s, False)
    return L, getattr(g, "trait_body", [])


HEADER = """// @generated by tools/codegen/messages.py from Apache Kafka's message schemas
// ({schemas}). Do not edit by hand: change the generator and run it again.
// Field descriptions are the schemas' own "about" texts (Apache-2.0).
"""


def file_prelude(desc, uses_bytes=True):
    return [
        "#![allow(clippy::all, clippy::pedantic)]",
        f"//! {desc}",
        "",
        "use alloc::string::String;",
        "use alloc::vec::Vec;",
        "use bytes::{BufMut, BytesMut};" if not uses_bytes else "use bytes::{BufMut, Bytes, BytesMut};",
        "",
        "#[allow(unused_imports)]",
        "use crate::wire::primitives::*;",
        "use crate::wire::{DecodeError, EncodeError};",
        "#[allow(unused_imports)]",
        "use crate::wire::Message;",
        "#[allow(unused_imports)]",
        "use super::PREALLOC_LIMIT;",
        "",
    ]


def message_impl(msg, kind_enum, body):
    api = msg.name[: -len("Request")] if msg.kind == "request" else msg.name[: -len("Response")]
    L = [
        f"impl crate::wire::Message for {msg.name} {{",
        f"    const API_KEY: ApiKey = ApiKey::{api};",
        f"    const KIND: MessageKind = MessageKind::{kind_enum};",
        f"    const MIN_VERSION: i16 = {msg.lo};",
        f"    const MAX_VERSION: i16 = {msg.hi};",
        f"    const FIRST_FLEXIBLE_VERSION: i16 = {msg.flexible[0] if msg.flexible else 'i16::MAX'};",
        "",
        *body,
        "}",
        "",
    ]
    return L


def generate(schema_dir, out_dir):
    files = {}
    rel = "spec/messages"
    mod_lines = []
    api_rows = []
    tests = []
    for stem, base in APIS:
        req_js = load(os.path.join(schema_dir, base + "Request.json"))
        resp_js = load(os.path.join(schema_dir, base + "Response.json"))
        req_range = stable_range(req_js, MIN_VERSION_OVERRIDE.get(base))
        resp_range = stable_range(resp_js, MIN_VERSION_OVERRIDE.get(base), req_range[1])
        if resp_range != req_range:
            raise SystemExit(f"{base}: request versions {req_range}, response versions {resp_range}")
        req = Message(req_js, req_range)
        resp = Message(resp_js, resp_range)
        client_hi = min(req.hi, CLIENT_MAX_VERSION.get(base, req.hi))
        clash = set(req.structs) & set(resp.structs)
        if clash:
            raise SystemExit(f"{base}: struct names used by both request and response: {clash}")
        L = HEADER.format(schemas=rel).splitlines()
        needs_bytes = any(f.elem in ("bytes", "records") for m in (req, resp) for st in m.structs.values() for f in st.fields)
        L += file_prelude(f"{base} (API key {req.api_key}): request and response, versions {req.lo}-{req.hi}.", needs_bytes)
        L.append("use crate::wire::{ApiKey, MessageKind};")
        L.append("")
        for m, kind in ((req, "Request"), (resp, "Response")):
            structs, body = gen_message(m)
            L += structs
            L += message_impl(m, kind, body)
        L.append(f"impl crate::wire::Request for {req.name} {{")
        L.append(f"    type Response = {resp.name};")
        L.append("}")
        files[stem + ".rs"] = "\n".join(L) + "\n"
        mod_lines.append(f"pub mod {stem};")
        mod_lines.append(f"pub use {stem}::{{{req.name}, {resp.name}}};")
        api_rows.append((base, req.api_key, req.lo, req.hi, req.flexible[0] if req.flexible else None, req.name, resp.name, client_hi))
    # Headers.
    hreq_js = load(os.path.join(schema_dir, "RequestHeader.json"))
    hresp_js = load(os.path.join(schema_dir, "ResponseHeader.json"))
    hreq = Message(hreq_js, stable_range(hreq_js))
    hresp = Message(hresp_js, stable_range(hresp_js))
    L = HEADER.format(schemas=rel).splitlines()
    L += file_prelude(f"Request header v{hreq.lo}-v{hreq.hi} and response header v{hresp.lo}-v{hresp.hi}.", False)
    L += gen_message(hreq)[0]
    L += gen_message(hresp)[0]
    files["headers.rs"] = "\n".join(L) + "\n"
    mod_lines.append("pub mod headers;")
    mod_lines.append("pub use headers::{RequestHeader, ResponseHeader};")

    M = HEADER.format(schemas=rel).splitlines()
    M += [
        "//! The producer's messages, one file per API, each with its request and",
        "//! response types. Every type encodes and decodes every version that its",
        "//! schema lists as valid, except Produce v0-v2 (they predate record",
        "//! batches) and a version the schema marks unstable (`latestVersionUnstable`:",
        "//! a broker advertises it only when told to, and its layout may still change).",
        "",
        *mod_lines,
        "",
        "/// Arrays are pre-allocated for at most this many elements; larger ones grow",
        "/// as elements actually decode, so a hostile count cannot reserve memory the",
        "/// input does not back.",
        "pub(crate) const PREALLOC_LIMIT: usize = 64;",
        "",
        "/// The APIs this codec implements.",
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]",
        "#[non_exhaustive]",
        "pub enum ApiKey {",
    ]
    for base, key, lo, hi, fl, rq, rs, _ in api_rows:
        M.append(f"    /// {base} (API key {key}).")
        M.append(f"    {base} = {key},")
    M += [
        "}",
        "",
        "impl ApiKey {",
        "    /// Every API this codec implements, by API key.",
        "    pub const ALL: [ApiKey; %d] = [%s];" % (len(api_rows), ", ".join(f"ApiKey::{r[0]}" for r in api_rows)),
        "",
        "    /// The API with this key, if this codec implements it.",
        "    pub fn from_i16(key: i16) -> Option<ApiKey> {",
        "        match key {",
    ]
    for base, key, *_ in api_rows:
        M.append(f"            {key} => Some(ApiKey::{base}),")
    M += [
        "            _ => None,",
        "        }",
        "    }",
        "",
        "    /// The API key on the wire.",
        "    pub fn as_i16(self) -> i16 {",
        "        self as i16",
        "    }",
        "",
        "    /// The API's name as Kafka spells it.",
        "    pub fn name(self) -> &'static str {",
        "        match self {",
    ]
    for base, *_ in api_rows:
        M.append(f"            ApiKey::{base} => {rs_str(base)},")
    M += [
        "        }",
        "    }",
        "",
        "    /// The lowest and highest versions this codec implements.",
        "    pub fn versions(self) -> (i16, i16) {",
        "        match self {",
    ]
    for base, key, lo, hi, *_ in api_rows:
        M.append(f"            ApiKey::{base} => ({lo}, {hi}),")
    M += [
        "        }",
        "    }",
        "",
        "    /// The lowest and highest versions a client may negotiate: the codec's",
        "    /// range, capped where Kafka's own client stops (AddPartitionsToTxn v4+ is",
        "    /// the broker-to-broker form). What a producer speaks is this range",
        "    /// meeting the broker's; conditions the broker's range does not show",
        "    /// (transactions v2, topic ids) are the producer's to apply.",
        "    pub fn client_versions(self) -> (i16, i16) {",
        "        match self {",
    ]
    for base, key, lo, hi, fl, rq, rs, client_hi in api_rows:
        M.append(f"            ApiKey::{base} => ({lo}, {client_hi}),")
    M += [
        "        }",
        "    }",
        "",
        "    /// The first flexible version (request header v2, response header v1).",
        "    pub fn first_flexible_version(self) -> i16 {",
        "        match self {",
    ]
    for base, key, lo, hi, fl, *_ in api_rows:
        M.append(f"            ApiKey::{base} => {fl if fl is not None else 'i16::MAX'},")
    M += [
        "        }",
        "    }",
        "}",
        "",
        "#[cfg(test)]",
        "pub(crate) use crate::wire::sample_rng::SampleRng;",
        "",
        "#[cfg(test)]",
        "mod round_trip {",
        "    use super::*;",
        "    use crate::wire::Message;",
        "    use crate::wire::sample_rng::round_trip;",
        "",
        "    /// Every message, every version, many pseudo-random values: decode(encode(x)) == x,",
        "    /// the input is consumed exactly, and re-encoding gives the same bytes.",
        "    #[test]",
        "    fn every_message_round_trips_in_every_version() {",
        "        let mut checked = 0usize;",
        "        for seed in 1..=64u64 {",
        "            let mut rng = SampleRng::new(seed);",
    ]
    for base, key, lo, hi, fl, rq, rs, _ in api_rows:
        M.append(f"            for version in {rq}::MIN_VERSION..={rq}::MAX_VERSION {{")
        M.append(f"                round_trip(&{rq}::sample(&mut rng, version), version);")
        M.append(f"                round_trip(&{rs}::sample(&mut rng, version), version);")
        M.append("                checked += 2;")
        M.append("            }")
    M += [
        "        }",
        f"        assert_eq!(checked, 64 * {sum(2 * (r[3] - r[2] + 1) for r in api_rows)});",
        "    }",
        "",
        "    #[test]",
        "    fn headers_round_trip_in_every_version() {",
        "        for seed in 1..=64u64 {",
        "            let mut rng = SampleRng::new(seed);",
        "            for version in RequestHeader::MIN_VERSION..=RequestHeader::MAX_VERSION {",
        "                let h = RequestHeader::sample(&mut rng, version);",
        "                let mut buf = bytes::BytesMut::new();",
        "                h.encode(&mut buf, version).unwrap();",
        "                let mut r = crate::wire::Reader::new(buf.freeze());",
        "                assert_eq!(RequestHeader::decode(&mut r, version).unwrap(), h);",
        "                r.finish().unwrap();",
        "            }",
        "            for version in ResponseHeader::MIN_VERSION..=ResponseHeader::MAX_VERSION {",
        "                let h = ResponseHeader::sample(&mut rng, version);",
        "                let mut buf = bytes::BytesMut::new();",
        "                h.encode(&mut buf, version).unwrap();",
        "                let mut r = crate::wire::Reader::new(buf.freeze());",
        "                assert_eq!(ResponseHeader::decode(&mut r, version).unwrap(), h);",
        "                r.finish().unwrap();",
        "            }",
        "        }",
        "    }",
        "}",
    ]
    files["mod.rs"] = "\n".join(M) + "\n"

    os.makedirs(out_dir, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(text)
    return sorted(files)


def main():
    args = sys.argv[1:]
    if args and args[0] == "--check":
        schema_dir = args[1] if len(args) > 1 else DEFAULT_SCHEMAS
        with tempfile.TemporaryDirectory() as tmp:
            names = generate(schema_dir, tmp)
            os.system(f"rustfmt --edition 2024 {tmp}/*.rs")
            stale = [n for n in names if not os.path.exists(os.path.join(DEFAULT_OUT, n))
                     or not filecmp.cmp(os.path.join(tmp, n), os.path.join(DEFAULT_OUT, n), shallow=False)]
            if stale:
                print("generated messages are stale, run python3 tools/codegen/messages.py:", ", ".join(stale))
                sys.exit(1)
            print(f"generated messages are up to date ({len(names)} files)")
        return
    schema_dir = args[0] if args else DEFAULT_SCHEMAS
    out_dir = args[1] if len(args) > 1 else DEFAULT_OUT
    names = generate(schema_dir, out_dir)
    os.system(f"rustfmt --edition 2024 {out_dir}/*.rs")
    print(f"wrote {len(names)} files to {out_dir}")


if __name__ == "__main__":
    main()
