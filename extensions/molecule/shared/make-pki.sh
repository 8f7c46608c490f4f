#!/usr/bin/env bash
# Usage: make-pki.sh DIR HOST:IP [HOST:IP ...]
# A throw-away CA plus one server and one client certificate per host (SAN = name + IP),
# and a ROGUE client certificate from another CA, for the tls Molecule scenario and the lab.
# Good material is valid for 90 days (libvirt_listener warns under 30). The CA's validity starts
# in the past, so that a certificate that expired is still within the CA's period (its signature
# checks, only its dates are wrong).
# Per host, BAD server material too, for the refusal cases (the role's x509_check):
#   HOST-expired-server-cert.pem  the CA's, the host's key, expired (2025-01-01 to 2025-02-01)
#   HOST-nosan-server-cert.pem    the CA's, the host's key, SAN of another host
#   HOST-wrongca-server-cert.pem  the rogue CA's, the host's key and SANs
#   HOST-otherkey-server-key.pem  a key that is not the server certificate's
set -euo pipefail
dir=$1; shift
mkdir -p "$dir"; cd "$dir"
DAYS=90
ca() {  # ca NAME: a self-signed CA, valid from 2024-01-01 until DAYS days from now
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' > "$1.ext"
  signdb "$1"
  openssl ca -batch -config "$1.db/ca.cnf" -selfsign -keyfile "$1-key.pem" -in "$1.csr" \
    -startdate 20240101000000Z -days "$DAYS" -extfile "$1.ext" -notext -out "$1-cert.pem" 2>/dev/null
}
signdb() {  # signdb CA: the small database `openssl ca` needs (it alone sets arbitrary dates)
  mkdir -p "$1.db"; : > "$1.db/index.txt"; [ -f "$1.db/serial" ] || openssl rand -hex 8 > "$1.db/serial"
  printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s\nnew_certs_dir=%s\nserial=%s\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\norganizationName=optional\n' \
    "$1.db/index.txt" "$1.db" "$1.db/serial" > "$1.db/ca.cnf"
}
leaf() {  # leaf CA NAME IP KIND(server|client)
  local usage=serverAuth; [ "$4" = client ] && usage=clientAuth
  openssl req -newkey rsa:2048 -nodes -subj "/O=openstack_ops test/CN=$2" -keyout "$2-$4-key.pem" -out "$2-$4.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=%s\nkeyUsage=digitalSignature,keyEncipherment\n' "$2" "$3" "$usage" > "$2-$4.ext"
  openssl x509 -req -in "$2-$4.csr" -CA "$1-cert.pem" -CAkey "$1-key.pem" -CAcreateserial -days "$DAYS" \
    -extfile "$2-$4.ext" -out "$2-$4-cert.pem" 2>/dev/null
}
bad_server() {  # bad_server NAME: the refusal cases' server material (from the host's server CSR)
  local n=$1
  if [ ! -f "$n-expired-server-cert.pem" ]; then
    signdb ca
    openssl ca -batch -config ca.db/ca.cnf -cert ca-cert.pem -keyfile ca-key.pem -in "$n-server.csr" \
      -startdate 20250101000000Z -enddate 20250201000000Z -extfile "$n-server.ext" -notext \
      -out "$n-expired-server-cert.pem" 2>/dev/null
  fi
  if [ ! -f "$n-nosan-server-cert.pem" ]; then
    printf 'subjectAltName=DNS:elsewhere.invalid,IP:203.0.113.9\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > "$n-nosan.ext"
    openssl x509 -req -in "$n-server.csr" -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial -days "$DAYS" \
      -extfile "$n-nosan.ext" -out "$n-nosan-server-cert.pem" 2>/dev/null
  fi
  [ -f "$n-wrongca-server-cert.pem" ] || openssl x509 -req -in "$n-server.csr" -CA rogue-cert.pem -CAkey rogue-key.pem \
    -CAcreateserial -days "$DAYS" -extfile "$n-server.ext" -out "$n-wrongca-server-cert.pem" 2>/dev/null
  [ -f "$n-otherkey-server-key.pem" ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$n-otherkey-server-key.pem" 2>/dev/null
}
[ -f ca-cert.pem ] || ca ca
[ -f rogue-cert.pem ] || ca rogue
for pair in "$@"; do
  name=${pair%%:*} ip=${pair#*:}
  [ -f "$name-server-cert.pem" ] || leaf ca "$name" "$ip" server
  [ -f "$name-client-cert.pem" ] || leaf ca "$name" "$ip" client
  [ -f "$name-rogue-cert.pem" ] || { leaf rogue "$name" "$ip" client; mv "$name-client-cert.pem" "$name-rogue-cert.pem"; mv "$name-client-key.pem" "$name-rogue-key.pem"; leaf ca "$name" "$ip" client; }
  bad_server "$name"
done
