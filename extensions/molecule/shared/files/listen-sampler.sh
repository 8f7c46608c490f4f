#!/bin/sh
# TEST INSTRUMENT (Molecule only): records every TCP listener on libvirt's ports (16509,
# 16514) about ten times a second, each line prefixed with the time, plus one "sample"
# line per round, so that the verifier can see a listener that lived for a moment only.
log=${1:-/var/log/lm-listen-samples.log}
while :; do
  ts=$(date +%s.%N)
  ss -Hltn '( sport = :16509 or sport = :16514 )' | sed "s/^/$ts /"
  echo "$ts sample"
  sleep 0.1
done >>"$log" 2>&1
