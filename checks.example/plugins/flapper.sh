#!/bin/sh
# Demo plugin: its state changes every 20 seconds (OK, WARNING, CRITICAL, UNKNOWN).
phase=$(( ($(date +%s) / 20) % 4 ))
case $phase in
  0) echo "FLAPPER OK - all quiet | phase=$phase;1;2;0;3"; exit 0 ;;
  1) echo "FLAPPER WARNING - getting busy | phase=$phase;1;2;0;3"; exit 1 ;;
  2) echo "FLAPPER CRITICAL - on fire | phase=$phase;1;2;0;3"; exit 2 ;;
  *) echo "FLAPPER UNKNOWN - cannot tell | phase=$phase;1;2;0;3"; exit 3 ;;
esac
