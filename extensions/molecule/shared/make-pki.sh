#!/usr/bin/env bash
# Usage: make-pki.sh DIR HOST:IP [HOST:IP ...]
# A throw-away CA plus one server and one client certificate per host (SAN = name + IP),
# and a ROGUE client certificate from another CA, for the tls Molecule scenario only.
set -euo pipefail
dir=$1; shift
mkdir -p "$dir"; cd "$dir"
ca() {  # ca NAME
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$1-key.pem" -out "$1-cert.pem" 2>/dev/null
}
leaf() {  # leaf CA NAME IP KIND(server|client)
  local usage=serverAuth; [ "$4" = client ] && usage=clientAuth
  openssl req -newkey rsa:2048 -nodes -subj "/O=openstack_ops test/CN=$2" -keyout "$2-$4-key.pem" -out "$2-$4.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=%s\nkeyUsage=digitalSignature,keyEncipherment\n' "$2" "$3" "$usage" > "$2-$4.ext"
  openssl x509 -req -in "$2-$4.csr" -CA "$1-cert.pem" -CAkey "$1-key.pem" -CAcreateserial -days 2 \
    -extfile "$2-$4.ext" -out "$2-$4-cert.pem" 2>/dev/null
}
[ -f ca-cert.pem ] || ca ca
[ -f rogue-cert.pem ] || ca rogue
for pair in "$@"; do
  name=${pair%%:*} ip=${pair#*:}
  [ -f "$name-server-cert.pem" ] || leaf ca "$name" "$ip" server
  [ -f "$name-client-cert.pem" ] || leaf ca "$name" "$ip" client
  [ -f "$name-rogue-cert.pem" ] || { leaf rogue "$name" "$ip" client; mv "$name-client-cert.pem" "$name-rogue-cert.pem"; mv "$name-client-key.pem" "$name-rogue-key.pem"; leaf ca "$name" "$ip" client; }
done
