#!/bin/sh
# Scout external signer example: signs one node CSR with a file CA using openssl.
#
# Reads one JSON request on stdin, prints one JSON reply on stdout, exits 0; on any refusal or
# error it prints a reason on stderr and exits non-zero. The contract is in README.md.
# Needs: a POSIX sh, awk and openssl (1.1.1 or 3.x). No python, no jq.
#
# Environment:
#   SCOUT_SIGNER_CA_CERT  CA certificate (PEM), for example ca.pem of `scout ca init`
#   SCOUT_SIGNER_CA_KEY   CA private key (PEM, PKCS#8 or SEC1)
#   SCOUT_SIGNER_MAX_DAYS longest validity granted, in days (default 397)
set -eu
umask 077

fail() {
  printf 'openssl-signer: %s\n' "$*" >&2
  exit 1
}

command -v openssl >/dev/null 2>&1 || fail "openssl is not on PATH"
ca_cert=${SCOUT_SIGNER_CA_CERT:-}
ca_key=${SCOUT_SIGNER_CA_KEY:-}
[ -n "$ca_cert" ] && [ -r "$ca_cert" ] || fail "SCOUT_SIGNER_CA_CERT must name a readable CA certificate"
[ -n "$ca_key" ] && [ -r "$ca_key" ] || fail "SCOUT_SIGNER_CA_KEY must name a readable CA key"
max_days=${SCOUT_SIGNER_MAX_DAYS:-397}
case $max_days in '' | *[!0-9]*) fail "SCOUT_SIGNER_MAX_DAYS must be a number" ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/scout-signer.XXXXXX") || fail "cannot make a temporary directory"
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

# 1. The JSON request into files: csr, identity, usage, days, dns, ip (one name a line).
#    A small recursive-descent JSON reader: strings with all escapes (\uXXXX for ASCII only),
#    numbers, arrays of strings; unknown keys are skipped whatever their value.
awk -v dir="$work" '
function die(msg) { printf "openssl-signer: bad request: %s\n", msg > "/dev/stderr"; bad = 1; exit 1 }
function ch() { return substr(s, p, 1) }
function ws() { while (p <= n && index(" \t\r\n", ch()) > 0) p++ }
function hexval(h,   i, v, d) {
  v = 0
  for (i = 1; i <= 4; i++) {
    d = index("0123456789abcdef", tolower(substr(h, i, 1)))
    if (d == 0) die("bad \\u escape")
    v = v * 16 + d - 1
  }
  return v
}
function str(   out, c, e, v) {
  if (ch() != "\"") die("expected a string")
  p++
  out = ""
  while (1) {
    if (p > n) die("unterminated string")
    c = ch()
    if (c == "\"") { p++; return out }
    if (c == "\\") {
      e = substr(s, p + 1, 1)
      if (e == "n") out = out "\n"
      else if (e == "t") out = out "\t"
      else if (e == "r") out = out "\r"
      else if (e == "b") out = out "\b"
      else if (e == "f") out = out "\f"
      else if (e == "/" || e == "\\" || e == "\"") out = out e
      else if (e == "u") {
        v = hexval(substr(s, p + 2, 4))
        if (v < 1 || v > 127) die("only ASCII \\u escapes are supported")
        out = out sprintf("%c", v)
        p += 4
      } else die("bad escape")
      p += 2
    } else { out = out c; p++ }
  }
}
function skipval(   c) {
  ws(); c = ch()
  if (c == "\"") { str(); return }
  if (c == "{" || c == "[") {
    p++; ws()
    if (ch() == (c == "{" ? "}" : "]")) { p++; return }
    while (1) {
      if (c == "{") { ws(); str(); ws(); if (ch() != ":") die("expected :"); p++ }
      skipval(); ws()
      if (ch() == ",") { p++; continue }
      if (ch() == (c == "{" ? "}" : "]")) { p++; return }
      die("expected , or a closing bracket")
    }
  }
  if (ch() !~ /[-+.0-9a-zA-Z]/) die("unexpected character")
  while (p <= n && ch() ~ /[-+.0-9a-zA-Z]/) p++
}
function names(file,   v) {
  printf "" > file
  if (ch() != "[") die("expected an array of strings")
  p++; ws()
  if (ch() == "]") { p++; close(file); return }
  while (1) {
    ws(); v = str()
    if (v !~ /^[A-Za-z0-9.:-]+$/) die("a name or address with characters other than letters, digits, \".\", \":\" and \"-\"")
    printf "%s\n", v > file
    ws()
    if (ch() == ",") { p++; continue }
    if (ch() == "]") { p++; close(file); return }
    die("expected , or ]")
  }
}
function put(key, v,   file) { file = dir "/" key; printf "%s", v > file; close(file); seen[key] = 1 }
{ s = (NR == 1 ? "" : s "\n") $0 }
END {
  if (bad) exit 1
  n = length(s); p = 1; ws()
  if (ch() != "{") die("expected a JSON object")
  p++; ws()
  if (ch() == "}") p++
  else while (1) {
    ws(); k = str(); ws()
    if (ch() != ":") die("expected :")
    p++; ws()
    if (k == "csr" || k == "identity" || k == "usage") put(k, str())
    else if (k == "days") {
      st = p
      while (p <= n && ch() ~ /[0-9]/) p++
      if (p == st || ch() ~ /[.eE]/) die("days must be a whole number")
      put("days", substr(s, st, p - st))
    }
    else if (k == "dns_names") { names(dir "/dns"); seen["dns"] = 1 }
    else if (k == "ip_addresses") { names(dir "/ip"); seen["ip"] = 1 }
    else skipval()
    ws()
    if (ch() == ",") { p++; continue }
    if (ch() == "}") { p++; break }
    die("expected , or }")
  }
  ws()
  if (p <= n) die("text after the JSON object")
  if (!seen["csr"] || !seen["identity"] || !seen["usage"] || !seen["days"]) die("csr, identity, usage and days are required")
  if (!seen["dns"]) { printf "" > (dir "/dns"); close(dir "/dns") }
  if (!seen["ip"]) { printf "" > (dir "/ip"); close(dir "/ip") }
}' || fail "cannot read the JSON request on stdin"

identity=$(cat "$work/identity")
usage=$(cat "$work/usage")
days=$(cat "$work/days")

# 2. Policy: a host-name-like identity, a known usage, a bounded validity.
[ "$(printf '%s' "$identity" | wc -l)" -eq 0 ] &&
  printf '%s\n' "$identity" | grep -Eqx '[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?' ||
  fail "invalid identity \"$identity\""
case $usage in
  client) eku=clientAuth ;;
  server) eku=serverAuth ;;
  *) fail "usage must be client or server, not \"$usage\"" ;;
esac
[ "$days" -ge 1 ] && [ "$days" -le "$max_days" ] || fail "days must be 1 to $max_days, not $days"

# 3. The CSR: its signature verifies, its subject is exactly CN=identity, its key is P-256.
csr=$work/csr
openssl req -in "$csr" -noout -verify >/dev/null 2>"$work/err" ||
  fail "the CSR's signature does not verify: $(tail -n 1 "$work/err")"
subject=$(openssl req -in "$csr" -noout -subject -nameopt RFC2253 2>/dev/null) ||
  fail "cannot read the CSR's subject"
[ "$subject" = "subject=CN=$identity" ] || fail "the CSR's subject \"$subject\" is not CN=$identity"
openssl req -in "$csr" -noout -pubkey 2>/dev/null | openssl pkey -pubin -noout -text 2>/dev/null |
  grep -q 'prime256v1' || fail "the CSR's key is not ECDSA P-256"

# 4. Extensions: client certificates name the identity only; server ones what was asked.
if [ "$usage" = client ]; then
  san="DNS:$identity"
else
  san=$( (sed 's/^/DNS:/' "$work/dns"; sed 's/^/IP:/' "$work/ip") | paste -sd, -)
fi
{
  echo "[v3]"
  echo "basicConstraints = critical, CA:FALSE"
  echo "keyUsage = critical, digitalSignature"
  echo "extendedKeyUsage = $eku"
  echo "subjectKeyIdentifier = hash"
  echo "authorityKeyIdentifier = keyid:always"
  [ -z "$san" ] || echo "subjectAltName = $san"
} >"$work/ext.cnf"

# 5. Sign with a random 16-byte serial.
serial=$(openssl rand -hex 16) || fail "openssl rand failed"
openssl x509 -req -in "$csr" -CA "$ca_cert" -CAkey "$ca_key" -set_serial "0x$serial" \
  -days "$days" -sha256 -extfile "$work/ext.cnf" -extensions v3 -out "$work/cert.pem" \
  2>"$work/err" || fail "openssl x509 failed: $(cat "$work/err")"
openssl x509 -in "$ca_cert" -out "$work/chain.pem" 2>"$work/err" ||
  fail "cannot read the CA certificate: $(cat "$work/err")"

# 6. The JSON reply: PEM is base64, letters, "-", "=" and spaces, so only newlines need escaping.
pem_json() { awk '{ printf "%s\\n", $0 }' "$1"; }
printf '{"certificate":"%s","chain":"%s"}\n' "$(pem_json "$work/cert.pem")" "$(pem_json "$work/chain.pem")"
