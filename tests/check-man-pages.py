#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every public function has a man page that shows its prototype.

    check-man-pages.py SOURCE_ROOT [MAN_BUILD_DIR]

- each function <daxmap.h> declares is named on the NAME line of exactly
  one page doc/*.3.scd, and that page's SYNOPSIS has its prototype as the
  header has it (whitespace aside);
- each function-pointer typedef of the header is in a SYNOPSIS;
- each name on a NAME line is the header's (a function, or a macro for an
  upper-case name): no page for something that is gone;
- libdaxmap(3) refers to each page;
- with MAN_BUILD_DIR (the build's doc/), each function has a page there,
  its own or a stub that sources its family's, so 'man NAME' finds it.
"""
import os
import re
import sys


def norm(s):
    return re.sub(r'\s+', ' ', s).replace('( ', '(').replace(' )', ')').strip()


def header_decls(path):
    """(functions {name: prototype}, typedefs {name: text}, macros)."""
    text = open(path).read()
    macros = set(re.findall(r'^#define\s+(DAXMAP_\w+)', text, re.M))
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'^#.*$', ' ', text.replace('\\\n', ' '), flags=re.M)
    text = re.sub(r'extern "C" \{|^\}$', ' ', text, flags=re.M)
    funcs, typedefs = {}, {}
    for stmt in text.split(';'):
        stmt = norm(stmt)
        m = re.search(r'typedef .*\(\*(daxmap_\w+)\)\(.*\)$', stmt)
        if m:
            typedefs[m.group(1)] = stmt + ';'
            continue
        # the last statement before a declaration may end in a '}'
        stmt = stmt.split('}')[-1].strip()
        m = re.fullmatch(r'[\w ]+?[\s*]\**(daxmap_\w+)\(.*\)', stmt)
        if m:
            funcs[m.group(1)] = stmt + ';'
    return funcs, typedefs, macros


def page_parts(path):
    """(names on the NAME line, the SYNOPSIS code, normalized)."""
    text = open(path).read()
    m = re.search(r'^# NAME\n\n(.*?) - ', text, re.M)
    names = [n.strip() for n in m.group(1).split(',')] if m else []
    syn = re.search(r'^# SYNOPSIS\n(.*?)^# ', text, re.M | re.S)
    code = ''
    if syn:
        code = ' '.join(re.findall(r'^```\n(.*?)^```', syn.group(1), re.M | re.S))
    code = re.sub(r'/\*.*?\*/', ' ', code, flags=re.S)
    return names, norm(code)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    src = sys.argv[1]
    mandir = sys.argv[2] if len(sys.argv) == 3 else None
    funcs, typedefs, macros = header_decls(os.path.join(src, 'include', 'daxmap.h'))
    docdir = os.path.join(src, 'doc')
    pages = {f[:-len('.3.scd')]: page_parts(os.path.join(docdir, f))
             for f in sorted(os.listdir(docdir)) if f.endswith('.3.scd')}
    overview = open(os.path.join(docdir, 'libdaxmap.3.scd')).read()
    bad = []
    if len(funcs) < 50:
        bad.append(f'only {len(funcs)} functions found in daxmap.h: the parser is wrong')
    for fn, proto in sorted(funcs.items()):
        where = [p for p, (names, _) in pages.items() if fn in names]
        if len(where) != 1:
            bad.append(f'{fn}: named on the NAME line of {len(where)} pages {where}, not one')
            continue
        if norm(proto) not in pages[where[0]][1]:
            bad.append(f'{fn}: doc/{where[0]}.3.scd has not its prototype in SYNOPSIS: {proto}')
    syn_all = ' '.join(code for _, code in pages.values())
    for td, text in sorted(typedefs.items()):
        if norm(text) not in syn_all:
            bad.append(f'typedef {td}: in no SYNOPSIS as the header has it: {text}')
    for page, (names, _) in sorted(pages.items()):
        if page == 'libdaxmap':
            continue
        for n in names:
            if n not in funcs and not (n.isupper() and n in macros):
                bad.append(f'doc/{page}.3.scd names {n}, which daxmap.h does not declare')
        if f'*{page}*(3)' not in overview:
            bad.append(f'libdaxmap(3) does not refer to {page}(3)')
    if mandir:
        for fn in sorted(funcs):
            if not os.path.exists(os.path.join(mandir, fn + '.3')):
                bad.append(f'{fn}: no {fn}.3 in {mandir} (a page, or a stub of its family)')
    for b in bad:
        print(b)
    if bad:
        sys.exit(f'check-man-pages: {len(bad)} problem(s)')
    print(f'check-man-pages: {len(funcs)} functions, {len(typedefs)} callback types, '
          f'{len(pages)} pages: each function on one page, with its prototype')


if __name__ == '__main__':
    main()
