# shellcheck shell=bash
# Three Kafka requests spoken from bash, sourced by scripts/kafka: Metadata
# (readiness: is a broker up and unfenced, does it know a topic's leaders),
# CreateTopics and DeleteTopics. Each is a round trip of a few milliseconds
# where one of Kafka's tools would start a JVM and spend seconds of CPU.
#
# Requests use header v1 and non-flexible versions that Kafka 4.x still
# serves (KIP-896 removed only older ones): Metadata v4, CreateTopics v4,
# DeleteTopics v1. The caller opens the connection as fd 3.

# Write the bytes of a big-endian integer as printf escapes.
be16() { printf '\\x%02x\\x%02x' $(($1 >> 8 & 255)) $(($1 & 255)); }
be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
# A Kafka string; its bytes go into a printf format, so % and \ are doubled.
kstr() {
  local LC_ALL=C v="$1"
  be16 "${#v}"
  v="${v//\\/\\\\}"
  printf '%s' "${v//%/%%}"
}

# Send one request (header v1, client id "kpp") on fd 3 and read the
# response body into the global array R (bytes as numbers, past the size).
roundtrip() {
  local api="$1" version="$2" body="$3" frame size
  frame="$(be16 "$api")$(be16 "$version")$(be32 7)$(kstr kpp)$body"
  size="$(printf "$frame" | wc -c)"
  # shellcheck disable=SC2059 # the frame is a printf format of escapes
  printf "$(be32 "$size")$frame" >&3
  local -a sz
  read -r -a sz < <(dd bs=1 count=4 <&3 2>/dev/null | od -An -v -tu1)
  [ "${#sz[@]}" = 4 ] || return 1
  size=$(((sz[0] << 24) | (sz[1] << 16) | (sz[2] << 8) | sz[3]))
  mapfile -t R < <(dd bs="$size" count=1 iflag=fullblock <&3 2>/dev/null | od -An -v -tu1 -w1 | tr -d ' ')
  [ "${#R[@]}" = "$size" ] || return 1
  P=0
}
i8() { V=${R[P]}; P=$((P + 1)); }
i16() { V=$(((R[P] << 8) | R[P + 1])); [ $V -lt 32768 ] || V=$((V - 65536)); P=$((P + 2)); }
i32() { V=$(((R[P] << 24) | (R[P + 1] << 16) | (R[P + 2] << 8) | R[P + 3])); [ $V -lt 2147483648 ] || V=$((V - 4294967296)); P=$((P + 4)); }
str() {
  i16
  local n=$V esc="" hex i
  for ((i = 0; i < n; i++)); do printf -v hex '\\x%02x' "${R[P + i]}"; esc+=$hex; done
  # shellcheck disable=SC2059 # esc is a format of escapes
  printf -v S "$esc"
  [ "$n" -lt 0 ] || P=$((P + n))
}

# Prints "broker ID" per live broker and "partition TOPIC INDEX ERROR LEADER"
# per partition of the topics asked for (none: no topics).
cmd_probe() {
  local port="$1" topic
  shift
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  local body
  body="$(be32 $#)"
  for topic in "$@"; do body+="$(kstr "$topic")"; done
  body+='\x00' # allow_auto_topic_creation=false
  roundtrip 3 4 "$body" || exit 1
  i32 # correlation id
  i32 # throttle_time_ms
  i32
  local nb=$V b
  for ((b = 0; b < nb; b++)); do
    i32; echo "broker $V"
    str; i32; str # host, port, rack
  done
  str; i32 # cluster id, controller id
  i32
  local nt=$V t np p n
  for ((t = 0; t < nt; t++)); do
    i16; local terr=$V
    str; local name=$S
    i8
    i32; np=$V
    [ "$terr" = 0 ] || echo "topic $name $terr"
    for ((p = 0; p < np; p++)); do
      i16; local perr=$V
      i32; local index=$V
      i32; local leader=$V
      i32; n=$V; P=$((P + 4 * n))
      i32; n=$V; P=$((P + 4 * n))
      echo "partition $name $index $perr $leader"
    done
  done
}

# CreateTopics v4 (one topic); prints the broker's error, if any.
cmd_create_topic_request() {
  local port="$1" name="$2" partitions="$3" rf="$4"
  shift 4
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  local body kv
  body="$(be32 1)$(kstr "$name")$(be32 "$partitions")$(be16 "$rf")$(be32 0)$(be32 $#)"
  for kv in "$@"; do
    case "$kv" in *=*) ;; *) echo "topic config '$kv' is not key=value"; exit 1 ;; esac
    body+="$(kstr "${kv%%=*}")$(kstr "${kv#*=}")"
  done
  body+="$(be32 30000)"'\x00' # timeout_ms, validate_only=false
  roundtrip 19 4 "$body" || { echo "no CreateTopics response"; exit 1; }
  i32; i32 # correlation id, throttle
  i32; str # one topic, its name
  i16; local err=$V
  str
  [ "$err" = 0 ] || { echo "CreateTopics error $err: $S"; exit 1; }
}

# DeleteTopics v1 (one topic), not waiting for the brokers to drop it.
cmd_delete_topic_request() {
  local port="$1" name="$2"
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  roundtrip 20 1 "$(be32 1)$(kstr "$name")$(be32 30000)" || { echo "no DeleteTopics response"; exit 1; }
  i32; i32; i32; str
  i16
  [ "$V" = 0 ] || { echo "DeleteTopics error $V"; exit 1; }
}
