#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Compile and run every code example of the README and the man pages.

    check-doc-examples.py SOURCE_ROOT BUILD_ROOT DAXMAPCTL

A C example is the fenced block that follows a marker line, in the README
`<!-- example: FRAME ... -->`, in a man page source `; example: FRAME ...`.
FRAME `program` is a whole program, run with a scratch emulated device as
its argument; `synopsis` a man page's synopsis, whose #include lines must
compile; any other FRAME names tests/doc-examples/FRAME.c, which
includes the example where EXAMPLE says. FRAME `sqlite` links the SQLite
VFS too (skipped in a build without it). A fenced C block without a marker
fails the check: every example is compiled and run.

A shell example is a fenced block of `$ daxmapctl ...` lines. Each line is
run with the device paths replaced by a scratch pool on an emulated device
(holding a region "wal"): it must not be a usage error (exit 2), so the
documented command lines stay valid.

scdoc copies a code block to roff as it is, where a backslash starts an
escape: a man page source writes each backslash of its code twice ("\\n"),
which is what the page shows as one. The check reads them that way, and
fails a block with a single one (the page would show it wrong).
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

MARK = re.compile(r'^(?:<!--|;)\s*example:\s*([a-z0-9-]+)')
FENCE = re.compile(r'^```(\w*)\s*$')


def blocks(path):
    """(line number, language, marker frame or None, text) of each block."""
    lines = open(path, encoding='utf-8').read().split('\n')
    out, frame, i = [], None, 0
    while i < len(lines):
        m, f = MARK.match(lines[i]), FENCE.match(lines[i])
        if m:
            frame = m.group(1)
        elif f:
            start, lang, body = i + 1, f.group(1), []
            i += 1
            while i < len(lines) and not FENCE.match(lines[i]):
                body.append(lines[i])
                i += 1
            out.append((start, lang, frame, '\n'.join(body) + '\n'))
            frame = None
        elif lines[i].strip() and not lines[i].startswith(';'):
            frame = None  # a marker names the block right after it
        i += 1
    return out


def is_c(lang, text):
    if lang == 'c':
        return True
    if lang:
        return False
    # man pages have no languages: C has braces or a #include, shells '$ '
    first = next((l for l in text.split('\n') if l.strip()), '')
    return not first.startswith('$') and ('{' in text or '#include' in text)


class Checker:
    def __init__(self, src, build, ctl):
        self.src, self.build, self.ctl = src, build, ctl
        self.tmp = tempfile.mkdtemp(prefix='daxmap-doc-')
        self.env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(build, 'lib'),
                        DAXMAP_RUNTIME_DIR=os.path.join(self.tmp, 'runtime'))
        self.failed = 0
        self.n = 0

    def fail(self, where, msg):
        print(f'{where}: {msg}', file=sys.stderr)
        self.failed += 1

    def scratch(self, size):
        self.n += 1
        p = os.path.join(self.tmp, f'dev{self.n}')
        with open(p, 'wb') as f:
            f.truncate(size)
        return p

    def run_c(self, where, frame, text):
        self.n += 1
        ex = os.path.join(self.tmp, f'example{self.n}.c')
        exe = ex[:-2]
        with open(ex, 'w') as f:
            f.write(text)
        cmd = ['cc', '-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror',
               '-I' + os.path.join(self.src, 'include')]
        if frame == 'synopsis':  # its #include lines, in an empty program
            with open(ex, 'w') as f:
                f.write(''.join(l + '\n' for l in text.split('\n') if l.startswith('#include')))
                f.write('int main(void)\n{\n\treturn 0;\n}\n')
        if frame in ('program', 'synopsis'):
            cmd.append(ex)
        else:
            fr = os.path.join(self.src, 'tests', 'doc-examples', frame + '.c')
            if not os.path.exists(fr):
                return self.fail(where, f'no frame {fr}')
            cmd += [f'-DEXAMPLE="{ex}"', fr]
        cmd += ['-L' + os.path.join(self.build, 'lib'), '-ldaxmap', '-lpthread']
        if frame == 'conn':
            cmd.append('-libverbs')
        if frame == 'sqlite':
            vfs = os.path.join(self.build, 'sqlite')
            if not os.path.exists(os.path.join(vfs, 'libdaxmap-sqlite.so')):
                print(f'{where}: skipped: built without the SQLite VFS (-Dsqlite)')
                return
            cmd += ['-I' + os.path.join(self.src, 'sqlite'), '-L' + vfs, '-ldaxmap-sqlite',
                    '-lsqlite3', '-Wl,-rpath,' + vfs]
        cmd += ['-o', exe]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            return self.fail(where, f'does not compile ({frame}):\n{r.stderr}')
        try:
            r = subprocess.run([exe, self.scratch(1 << 30)], capture_output=True, text=True,
                               env=self.env, timeout=300)
        except subprocess.TimeoutExpired:
            return self.fail(where, 'did not finish in 300 s (a deadlock?)')
        if r.returncode:
            return self.fail(where, f'exit {r.returncode}:\n{r.stdout}{r.stderr}')
        print(f'{where}: example ({frame}) compiled and ran')

    def pool(self):
        p = self.scratch(64 << 20)
        for args in (['format', p], ['create', p, 'wal', '2M']):
            subprocess.run([self.ctl] + args, check=True, capture_output=True, env=self.env)
        return p

    def run_shell(self, where, text):
        for line in text.split('\n'):
            if not line.startswith('$ '):
                continue
            for cmd in line[2:].split('&&'):
                cmd = cmd.strip()
                if not cmd.startswith('daxmapctl'):
                    continue
                pool = self.pool()
                words = [pool if re.fullmatch(r'/dev/dax\d+\.\d+', w) else w
                         for w in shlex.split(cmd.split('>')[0], comments=True)]
                words = [w.replace('/tmp/emu', pool) for w in words]
                if '--align' in words:  # an emulated device of its own
                    words = [w for w in words if w != pool]
                    words.append(self.scratch(1 << 30))
                r = subprocess.run([self.ctl] + words[1:], capture_output=True, text=True,
                                   env=self.env)
                if r.returncode == 2:
                    self.fail(where, f'`{cmd}` is a usage error:\n{r.stderr}')
                else:
                    print(f'{where}: `{cmd}` ran (exit {r.returncode})')

    def check(self, rel):
        for line, lang, frame, text in blocks(os.path.join(self.src, rel)):
            where = f'{rel}:{line}'
            if rel.endswith('.scd'):
                if '\\' in text.replace('\\\\', ''):
                    self.fail(where, 'a single backslash in a code block: write it twice')
                    continue
                text = text.replace('\\\\', '\\')
            # a marked block is C even without braces (a few statements)
            if frame is not None or is_c(lang, text):
                if frame is None:
                    self.fail(where, 'a C example without an "example: FRAME" marker')
                else:
                    self.run_c(where, frame, text)
            elif re.search(r'^\$ daxmapctl', text, re.M):
                self.run_shell(where, text)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    c = Checker(*sys.argv[1:])
    docs = ['README.md'] + sorted(os.path.join('doc', f) for f in
                                  os.listdir(os.path.join(c.src, 'doc'))
                                  if f.endswith('.scd') or f.endswith('.md'))
    for d in docs:
        c.check(d)
    subprocess.run(['rm', '-rf', c.tmp])
    if c.failed:
        sys.exit(f'check-doc-examples: {c.failed} example(s) failed')
    print('check-doc-examples: every example compiled and ran')


if __name__ == '__main__':
    main()
