# SPDX-License-Identifier: BSD-3-Clause
# bash completion for daxmapctl(1): commands, their options, device paths,
# and the region names of the pool at the command's PATH, read from
# 'daxmapctl regions'. Installed as completions/daxmapctl, where
# bash-completion loads it when daxmapctl is first completed.

# Each command: the arguments it takes, in order, then ':' and the options
# it takes (as 'daxmapctl COMMAND --help' gives them).
declare -gA _daxmapctl_cmds=(
	[list]=":-u"
	[info]="PATH:-u --align"
	[format]="PATH:-u --extent-size --force --force-in-use --align"
	[create]="PATH NEWNAME SIZE:-u --align"
	[resize]="PATH REGION SIZE:-u --timeout --align"
	[remove]="PATH REGION:--timeout --align"
	[regions]="PATH:-u --align"
	[check]="PATH:--repair --align"
	[refs]="PATH REGION:-u --align"
	[holders]="PATH:-u --align"
	[reclaim]="PATH:--align"
	[pin-check]="PATH:--align"
)

# The region names of the pool on $1 (emulated devices need their --align,
# $2), one per line; nothing when there is no pool or no access.
_daxmapctl_regions()
{
	local path=$1 out

	# the word as typed: a leading ~/ is not expanded yet
	# shellcheck disable=SC2088
	[[ $path == "~/"* ]] && path=$HOME/${path#"~/"}
	out=$("${_daxmapctl_cmd:-daxmapctl}" regions ${2:+--align "$2"} -- "$path" 2>/dev/null) ||
		return 0
	# json-c prints each member on a line of its own: "name":"wal",
	# (names are printable ASCII: only " and \ come escaped)
	sed -n 's/^ *"name":"\(.*\)",\{0,1\}$/\1/p' <<<"$out" | sed 's/\\\(["\\]\)/\1/g'
}

# COMPREPLY from lines (no process substitution: it needs /dev/fd)
_daxmapctl_reply()
{
	COMPREPLY=()
	[[ -n $1 ]] && mapfile -t COMPREPLY <<<"$1"
}

_daxmapctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmd="" align="" i w skip=0
	local -a pos=()
	_daxmapctl_cmd=${COMP_WORDS[0]}

	# the command, the --align given so far, and the arguments before cur
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if ((skip)); then
			skip=0
			[[ ${COMP_WORDS[i-1]} == @(--align|-a) ]] && align=$w
			continue
		fi
		if [[ -z $cmd ]]; then
			[[ $w == -* ]] || cmd=$w
			continue
		fi
		case $w in
		--align=*) align=${w#--align=} ;;
		--align | -a | --extent-size | -e | --timeout | -t) skip=1 ;;
		--) ;;
		-*) ;;
		*) pos+=("$w") ;;
		esac
	done

	COMPREPLY=()
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_daxmapctl_reply "$(compgen -W "--help --version" -- "$cur")"
		else
			_daxmapctl_reply "$(compgen -W "${!_daxmapctl_cmds[*]} help" -- "$cur")"
		fi
		return 0
	fi
	[[ -v _daxmapctl_cmds[$cmd] ]] || return 0
	local spec=${_daxmapctl_cmds[$cmd]}

	# an option's value
	case $prev in
	--align | -a | --extent-size | -e)
		_daxmapctl_reply "$(compgen -W "2M 1G" -- "$cur")"
		return 0
		;;
	--timeout | -t)
		_daxmapctl_reply "$(compgen -W "0 5 30 forever" -- "$cur")"
		return 0
		;;
	esac
	if [[ $cur == -* ]]; then
		_daxmapctl_reply "$(compgen -W "${spec#*:} --help" -- "$cur")"
		return 0
	fi

	local -a args
	read -ra args <<<"${spec%%:*}"
	case ${args[${#pos[@]}]:-} in
	PATH)
		# device-DAX nodes, then any file (an fsdax file, an emulated device)
		local -a devs=()
		for w in /dev/dax*; do
			[[ -c $w ]] && devs+=("$w")
		done
		compopt -o filenames 2>/dev/null
		# (a file under /dev/dax is one of the devices: list it once)
		_daxmapctl_reply "$({ compgen -W "${devs[*]}" -- "$cur"; compgen -f -- "$cur"; } |
			awk '!seen[$0]++')"
		;;
	REGION)
		local name names
		names=$(_daxmapctl_regions "${pos[0]}" "$align")
		while IFS= read -r name; do
			[[ -n $name && $name == "$cur"* ]] && COMPREPLY+=("$(printf '%q' "$name")")
		done <<<"$names"
		;;
	esac
	return 0
}
complete -F _daxmapctl daxmapctl
