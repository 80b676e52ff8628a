#!/usr/bin/env bash
# Refreshes spec/ from one Apache Kafka release, so that upgrading the
# protocol reference is one command:
#
#   tools/codegen/refresh-spec.sh 4.1.1 [SPEC_DIR]
#
# 1. Maven resolves org.apache.kafka:kafka-clients:VERSION from Maven Central
#    (through tools/codegen/pom.xml, into the local Maven repository).
# 2. The producer's message schemas are copied byte for byte out of the jar's
#    common/message/ into SPEC_DIR/messages/ (the old ones are removed first,
#    so a schema Kafka dropped does not linger).
# 3. SPEC_DIR/LICENSE is the jar's LICENSE (Apache-2.0) unchanged, and
#    SPEC_DIR/NOTICE says where the files came from, followed by the jar's
#    NOTICE unchanged.
# 4. SPEC_DIR/error-codes.tsv is printed by ErrorTable.java from the same
#    client's Errors enum.
#
# SPEC_DIR defaults to spec/ at the repository root. Afterwards: read
# `git diff spec/`, update spec/README.md where facts changed, and regenerate
# the codec and the error codes with the generators in tools/codegen/.
# Needs: mvn, java (17+, for single-file source launch), unzip, sha256sum.
set -euo pipefail

usage() {
    echo "usage: $0 KAFKA_VERSION [SPEC_DIR]   (for example: $0 4.1.1)" >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
version=$1
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([.-][A-Za-z0-9.-]+)?$ ]] || {
    echo "refresh-spec: '$version' does not look like a Kafka version" >&2
    usage
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
spec=${2:-$root/spec}
mvn=${MVN:-mvn}
java=${JAVA:-java}

for tool in "$mvn" "$java" unzip sha256sum; do
    command -v "$tool" >/dev/null || { echo "refresh-spec: '$tool' is not installed" >&2; exit 1; }
done

# The APIs a producer speaks (idempotence, transactions, SASL), and the
# headers. A new API joins the producer here first.
apis=(
    Produce Metadata ApiVersions InitProducerId FindCoordinator
    AddPartitionsToTxn AddOffsetsToTxn TxnOffsetCommit EndTxn
    SaslHandshake SaslAuthenticate
)
schemas=(RequestHeader ResponseHeader)
for api in "${apis[@]}"; do
    schemas+=("${api}Request" "${api}Response")
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "refresh-spec: resolving org.apache.kafka:kafka-clients:$version with Maven" >&2
if ! "$mvn" -B -q -f "$here/pom.xml" -Dkafka.version="$version" \
        dependency:build-classpath -Dmdep.includeScope=runtime \
        -Dmdep.outputFile="$work/classpath" >"$work/mvn.log" 2>&1; then
    cat "$work/mvn.log" >&2
    echo "refresh-spec: Maven could not resolve kafka-clients $version" >&2
    exit 1
fi
classpath=$(cat "$work/classpath")
jar=
IFS=: read -r -a entries <<<"$classpath"
for entry in "${entries[@]}"; do
    case $entry in */kafka-clients-"$version".jar) jar=$entry ;; esac
done
[ -n "$jar" ] && [ -f "$jar" ] || {
    echo "refresh-spec: kafka-clients-$version.jar is not on the resolved classpath: $classpath" >&2
    exit 1
}

# Stage everything first, so a failure leaves spec/ as it was.
stage=$work/spec
mkdir -p "$stage/messages"
for name in "${schemas[@]}"; do
    unzip -p "$jar" "common/message/$name.json" >"$stage/messages/$name.json" || {
        echo "refresh-spec: the jar has no common/message/$name.json" >&2
        exit 1
    }
    [ -s "$stage/messages/$name.json" ] || { echo "refresh-spec: $name.json is empty" >&2; exit 1; }
done
unzip -p "$jar" LICENSE >"$stage/LICENSE"
unzip -p "$jar" NOTICE >"$work/kafka-NOTICE"
grep -q "Apache License" "$stage/LICENSE" || { echo "refresh-spec: the jar's LICENSE is not Apache-2.0" >&2; exit 1; }

if ! "$java" -cp "$classpath" "$here/ErrorTable.java" >"$stage/error-codes.tsv" 2>"$work/java.log"; then
    cat "$work/java.log" >&2
    echo "refresh-spec: ErrorTable.java failed" >&2
    exit 1
fi
[ "$(head -n 1 "$stage/error-codes.tsv")" = "$(printf 'code\tname\texception\tretriable')" ] || {
    echo "refresh-spec: ErrorTable.java printed no table" >&2
    exit 1
}

sha=$(sha256sum "$jar" | cut -d' ' -f1)
{
    cat <<NOTICE
Apache Kafka's protocol schemas, vendored into this repository

messages/*.json are Apache Kafka's message schemas, copied byte for byte
from the resources (common/message/) of the Maven Central artifact

    org.apache.kafka:kafka-clients:$version
    (kafka-clients-$version.jar, SHA-256 $sha)

They are Copyright The Apache Software Foundation and are licensed under the
Apache License, Version 2.0, whose text is in LICENSE beside this file (the
artifact's own LICENSE file, unchanged).

error-codes.tsv was generated from the same artifact's
org.apache.kafka.common.protocol.Errors by tools/codegen/ErrorTable.java.

This folder, apart from README.md, is written by
tools/codegen/refresh-spec.sh; do not edit it by hand.

Apache Kafka's NOTICE file, as shipped in that artifact, follows unchanged.
------------------------------------------------------------------------------
NOTICE
    cat "$work/kafka-NOTICE"
} >"$stage/NOTICE"

mkdir -p "$spec/messages"
rm -f "$spec"/messages/*.json
cp "$stage"/messages/*.json "$spec/messages/"
cp "$stage/LICENSE" "$stage/NOTICE" "$stage/error-codes.tsv" "$spec/"

# What changed in the parts that matter to the codec: version ranges, and
# versions Kafka still marks unstable (never to be generated or advertised).
printf '%-22s %-10s %s\n' API versions note >&2
for api in "${apis[@]}"; do
    f=$spec/messages/${api}Request.json
    range=$(sed -n 's/.*"validVersions": *"\([^"]*\)".*/\1/p' "$f")
    note=
    grep -q '"latestVersionUnstable": *true' "$f" && note="latest version unstable: do not speak it"
    printf '%-22s %-10s %s\n' "$api" "$range" "$note" >&2
done
echo "refresh-spec: spec from kafka-clients $version written to $spec ($(($(wc -l <"$spec/error-codes.tsv") - 1)) error codes)" >&2
