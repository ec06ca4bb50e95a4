#!/usr/bin/env bash
# The library's layers point down only (README.md, "Layout"): a file of lib/
# may include the internal headers of its own layer and of the layers below,
# never those above. This keeps include cycles out too.
#
#   tests/check-layers.sh LIBDIR
set -euo pipefail
lib=${1:?usage: check-layers.sh LIBDIR}

# layer of each module (its .c and its .h), bottom up
declare -A layer=(
	[error]=0 [util]=0 [runs]=0 [version]=0 [persist]=0 [format]=0 [kunits]=0 [fault]=0
	[dev]=1 [foreign]=1 [foreign_watch]=1 [rdma_nl]=1 [rdma_nl_stub]=1
	[map]=2
	[pool_core]=3 [pool_handle]=4
	[ref]=5 [ref_attach]=5 [ref_layout]=5 [ref_va]=5 [vfio_ledger]=5 [runtime]=6
	[region_map]=7 [release]=8 [foreign_holders]=8
	[pool]=9 [region]=9 [kstate]=9
	[pin_rules]=10 [pin]=11
	[pin_rdma]=12 [pin_rdma_stub]=12 [mr_cache]=12 [pin_vfio]=12 [pin_uring]=12
	[pin_uring_stub]=12
	[hook_ucx]=12 [hook_ucx_stub]=12 [hook_fabric]=12 [hook_fabric_stub]=12
)
status=0
for f in "$lib"/*.c "$lib"/*.h; do
	m=$(basename "$f"); m=${m%.[ch]}
	if [[ -z ${layer[$m]:-} ]]; then
		echo "check-layers: $f is in no layer (add it to tests/check-layers.sh)" >&2
		status=1
		continue
	fi
	while read -r h; do
		hm=${h%.h}
		[[ -n ${layer[$hm]:-} ]] || continue   # daxmap.h, config.h
		if ((layer[$hm] > layer[$m])); then
			echo "check-layers: $f (layer ${layer[$m]}) includes $h (layer ${layer[$hm]})" >&2
			status=1
		fi
	done < <(sed -n 's/^#include "\([a-z_]*\.h\)".*/\1/p' "$f")
done
((status == 0)) && echo "check-layers: every include of $lib points down"
exit $status
