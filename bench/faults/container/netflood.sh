#!/bin/bash
# A network flood on the host's interface flood0 to its peer, an address in a namespace inside
# this container (set up by setup.sh): iperf3 as fast as TCP goes, both directions, until stopped.
set -u
ip netns exec bench-peer iperf3 -s -p 5201 >/dev/null 2>&1 &
ip netns exec bench-peer iperf3 -s -p 5202 >/dev/null 2>&1 &
sleep 0.5
iperf3 -c 192.168.251.2 -p 5201 -t 0 -P 2 >/dev/null 2>&1 &
iperf3 -c 192.168.251.2 -p 5202 -t 0 -P 2 -R >/dev/null 2>&1 &
wait
