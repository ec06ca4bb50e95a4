#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The ABI check fails on incompatible changes: scratch libraries, built
from the build's own objects, against the baseline.

    check-abi-detects.py BUILD_ROOT LIBRARY CHECK_ABI BASELINE HEADERS_DIR

- the objects relinked as they are: the check passes (the relink itself
  adds no difference);
- relinked with a version script that drops daxmap_pool_stat: fails;
- relinked with daxmap_region_list in a LIBDAXMAP_2 node instead of
  LIBDAXMAP_1 (programs linked against daxmap_region_list@LIBDAXMAP_1 would
  not load): fails;
- lib/pool.c compiled against a header whose struct daxmap_pool_stat has a
  new first member (every later member moves): fails;
- lib/dev.c compiled against a header where DAXMAP_KIND_FILE has another
  value: fails, and passes with a suppression of that type, as a change
  reviewed as compatible would. (A new enumerator at the end of an enum is
  compatible, and abidiff lets it pass by itself.)
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    build, lib, check, base, hdrs = (os.path.abspath(a) for a in sys.argv[1:])
    if not shutil.which('abidiff'):
        print('skipped: abidiff not found (apt-get install abigail-tools)')
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix='daxmap-abi-')
    link = link_command(build, os.path.relpath(lib, build))
    ok = True

    def lib_with(name, sym_edit=None, objects=None):
        """Relink the library into tmp/name, with an edited version script
        and objects replaced, as given."""
        cmd = list(link)
        out = os.path.join(tmp, name, 'libdaxmap.so.0')
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cmd[cmd.index('-o') + 1] = out
        for i, w in enumerate(cmd):
            if w.startswith('-Wl,--version-script='):
                script = w.split('=', 1)[1]
                if sym_edit:
                    text = sym_edit(open(script).read())
                    script = os.path.join(tmp, name, 'libdaxmap.sym')
                    open(script, 'w').write(text)
                cmd[i] = '-Wl,--version-script=' + script
            if objects and w in objects:
                cmd[i] = objects[w]
        subprocess.run(cmd, cwd=build, check=True)
        return out

    def header_with(name, edit):
        d = os.path.join(tmp, name, 'include')
        os.makedirs(d, exist_ok=True)
        text = open(os.path.join(hdrs, 'daxmap.h')).read()
        new = edit(text)
        assert new != text, name
        open(os.path.join(d, 'daxmap.h'), 'w').write(new)
        return d

    def recompile(name, source, inc):
        """source's object compiled with inc before the other include dirs."""
        cmd, obj = compile_command(build, source)
        out = os.path.join(tmp, name, os.path.basename(obj))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        # a scratch change need not be warning-free (an enum's new
        # enumerator leaves a switch incomplete)
        cmd = [w for w in cmd if w not in ('-MD', '-Werror', '-fdiagnostics-color=always')]
        for flag in ('-MQ', '-MF'):
            while flag in cmd:
                i = cmd.index(flag)
                del cmd[i:i + 2]
        cmd[cmd.index('-o') + 1] = out
        subprocess.run([cmd[0], '-I' + inc] + cmd[1:], cwd=build, check=True)
        return {obj: out}

    def expect(what, lib, want_fail, headers=hdrs, supp=None):
        nonlocal ok
        args = [check, base, lib, headers] + ([supp] if supp else [])
        r = subprocess.run(args, capture_output=True, text=True)
        failed = r.returncode != 0
        print(f'--- {what}: check {"failed" if failed else "passed"} (status {r.returncode})')
        print(r.stdout.rstrip())
        if failed != want_fail:
            print(f'check-abi-detects: {what}: the check should have {"failed" if want_fail else "passed"}')
            ok = False

    expect('relinked as built', lib_with('same'), False)
    expect('daxmap_pool_stat removed',
           lib_with('removed', lambda s: s.replace('\tdaxmap_pool_stat;\n', '')), True)
    expect('daxmap_region_list moved to LIBDAXMAP_2',
           lib_with('moved', lambda s: s.replace('\tdaxmap_region_list;\n', '').replace(
               'LIBDAXMAP_2 {\nglobal:\n', 'LIBDAXMAP_2 {\nglobal:\n\tdaxmap_region_list;\n')),
           True)
    inc = header_with('struct', lambda s: s.replace(
        'struct daxmap_pool_stat {\n', 'struct daxmap_pool_stat {\n\tuint64_t flags;\n'))
    expect('struct daxmap_pool_stat grew a first member',
           lib_with('struct', objects=recompile('struct', 'lib/pool.c', inc)), True, inc)
    inc = header_with('enum', lambda s: s.replace('DAXMAP_KIND_FILE = 3,', 'DAXMAP_KIND_FILE = 5,'))
    enum_lib = lib_with('enum', objects=recompile('enum', 'lib/dev.c', inc))
    expect('DAXMAP_KIND_FILE changed its value', enum_lib, True, inc)
    supp = os.path.join(tmp, 'enum', 'reviewed.abignore')
    open(supp, 'w').write('[suppress_type]\n  name = daxmap_dev_kind\n  type_kind = enum\n'
                          '  changed_enumerators = DAXMAP_KIND_FILE\n')
    expect('... with that change suppressed as reviewed', enum_lib, False, inc, supp)
    if ok:
        shutil.rmtree(tmp)
    if not ok:
        sys.exit(1)
    print('check-abi-detects: the check fails on each incompatible change')


def link_command(build, lib):
    """The command that links lib (relative to build), as ninja runs it."""
    out = subprocess.run(['ninja', '-C', build, '-t', 'commands', lib],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        words = shlex.split(line)
        if '-o' in words and words[words.index('-o') + 1] == lib:
            return words
    sys.exit(f'check-abi-detects: no link command for {lib}')


def compile_command(build, source):
    """The command that compiles source into the shared library, and its object."""
    for e in json.load(open(os.path.join(build, 'compile_commands.json'))):
        if e['file'].endswith(source) and 'libdaxmap.so' in e['output']:
            return shlex.split(e['command']), e['output']
    sys.exit(f'check-abi-detects: no compile command for {source}')


if __name__ == '__main__':
    main()
