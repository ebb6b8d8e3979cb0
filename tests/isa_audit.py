#!/usr/bin/env python3
"""ISA audit: disassembles the built libjitson and fails if a function holds an instruction its
dispatch condition does not guarantee.

Which condition a function runs under follows from the source file it was compiled from
(<family>_<isa>.cpp, cmake/JitsonFlags.cmake):

  avx512                    the base avx512 tier (runtime/cpu.cpp, detect_best_isa): AVX2 POPCNT
                            FMA BMI2 F16C AVX512F AVX512BW AVX512VL AVX512DQ AVX512_VPOPCNTDQ
  avx512vnni / avx512bf16   the tier + that one extension (dispatch checks cpu_features())
  amxbf16 / amxint8         the tier + AMX-TILE and AMX-BF16 / AMX-INT8 (runtime/gemm.cpp)
  avx2                      a lower tier: the avx512 tier's rules and no AVX-512 at all
  scalar, anything else     (drivers, the JIT, libstdc++ code) runs on every CPU: the avx512
                            tier's rules, no AVX-512 and no AVX/AVX2/FMA/F16C/BMI2

so every function not compiled from an extension file is reachable on the base avx512 tier and is
audited against (at least) its rules. A per-function target attribute would escape this
file-based view, which is why extension code lives in its own file.

Functions are attributed to files through the object files (passed with --objects): a global
symbol by name, a local one (unnamed namespaces) through the STT_FILE symbol that precedes the
locals of each input file in the library's .symtab. Each function is then disassembled from the
library itself, so the audit sees the code the linker kept (an inline function compiled in two
files with different flags is one copy in the library, checked against the strictest owner).

The instruction tables list the extensions OUTSIDE the tier, by mnemonic as GNU objdump and
llvm-objdump print them in Intel syntax. Source: the "CPUID Feature Flag" column of each
instruction's page in the Intel SDM vol. 2 (2023) and the Intel ISE reference (AMX, AVX-VNNI,
AVX512_FP16, AVX-NE-CONVERT, AVX-IFMA, AVX-VNNI-INT8/16, SHA512, SM3/SM4, CMPccXADD, RAO-INT),
and AMD's APM vol. 3/4 (XOP, FMA4, TBM, SSE4a, 3DNow!). AVX512DQ is inside the tier (see
runtime/cpu.cpp), so the k*b mask instructions, vpmullq, vextracti64x2... are allowed.

Also checks that the flag sets of cmake/JitsonFlags.cmake (--flags isa=-mx;-my) enable nothing
outside each ISA's rules: a flag the compiler has not used yet is still a promise it may.

Usage: isa_audit.py --library libjitson.so --objects a.o b.o ... [--flags avx512=-mavx2;...]
       isa_audit.py --self-test
Python 3 standard library only; needs GNU objdump/readelf (binutils) or llvm-objdump/readelf.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

# --- Extensions outside the base avx512 tier: name -> (CPUID flag, exact mnemonics, patterns).

EXTENSIONS = {
    # EVEX forms; the VEX forms ({vex} prefix in objdump) are AVX_VNNI, see classify().
    'AVX512_VNNI': ('CPUID.(7,0):ECX[11]', 'vpdpbusd vpdpbusds vpdpwssd vpdpwssds', ''),
    'AVX_VNNI': ('CPUID.(7,1):EAX[4]', '', ''),  # filled by classify() from the {vex} prefix
    'AVX512_BF16': ('CPUID.(7,1):EAX[5]', 'vcvtne2ps2bf16 vcvtneps2bf16 vdpbf16ps', ''),
    'AVX_NE_CONVERT': ('CPUID.(7,1):EDX[5]',
                       'vbcstnebf162ps vbcstnesh2ps vcvtneebf162ps vcvtneeph2ps vcvtneobf162ps '
                       'vcvtneoph2ps', ''),
    'AVX512_BITALG': ('CPUID.(7,0):ECX[12]', 'vpopcntb vpopcntw vpshufbitqmb', ''),
    'AVX512_VBMI': ('CPUID.(7,0):ECX[1]', 'vpermb vpermi2b vpermt2b vpmultishiftqb', ''),
    'AVX512_VBMI2': ('CPUID.(7,0):ECX[6]',
                     'vpcompressb vpcompressw vpexpandb vpexpandw', r'^vpsh[lr]dv?[wdq]$'),
    'AVX512_IFMA': ('CPUID.(7,0):EBX[21] (AVX-IFMA: CPUID.(7,1):EAX[23])',
                    'vpmadd52luq vpmadd52huq', ''),
    'AVX512CD': ('CPUID.(7,0):EBX[28]',
                 'vpconflictd vpconflictq vplzcntd vplzcntq vpbroadcastmb2q vpbroadcastmw2d', ''),
    'AVX512_VP2INTERSECT': ('CPUID.(7,0):EDX[8]', 'vp2intersectd vp2intersectq', ''),
    'AVX512_ER_PF_4FMAPS_4VNNIW': ('Xeon Phi only',
                                   'v4fmaddps v4fmaddss v4fnmaddps v4fnmaddss vp4dpwssd '
                                   'vp4dpwssds vexp2ps vexp2pd',
                                   r'^v(rcp|rsqrt)28[ps][sd]$|^v(gather|scatter)pf[01][dq]p[sd]$'),
    # vcvtph2ps / vcvtps2ph are F16C (VEX) and AVX512F (EVEX), inside the tier; AVX512_FP16
    # spells its own forms vcvtph2psx / vcvtps2phx.
    'AVX512_FP16': ('CPUID.(7,0):EDX[23]', 'vmovw',
                    r'^v(?!cvtps2ph$)\w*(ph|sh)$|^v(?!cvtph2ps$)cvtt?(ph|sh)2\w+$'
                    r'|^v(?!cvtps2ph$)cvt\w*2(ph|sh)x?$'),
    'GFNI': ('CPUID.(7,0):ECX[8]', '', r'^v?gf2p8(affineinvqb|affineqb|mulb)$'),
    'AES_VAES_KL': ('CPUID.1:ECX[25], CPUID.(7,0):ECX[9], Key Locker', '', r'^v?aes\w*$'),
    'PCLMULQDQ_VPCLMULQDQ': ('CPUID.1:ECX[1], CPUID.(7,0):ECX[10]', '', r'^v?pclmul\w*$'),
    'SHA_SHA512_SM3_SM4': ('CPUID.(7,0):EBX[29], CPUID.(7,1):EAX[0..2]', '',
                           r'^sha(1|256)\w+$|^vsha512\w+$|^vsm[34]\w+$'),
    'AVX_VNNI_INT8_INT16': ('CPUID.(7,1):EDX[4,10]', '',
                            r'^vpdpb(ss|su|uu)ds?$|^vpdpw(su|us|uu)ds?$'),
    'AMX_TILE': ('CPUID.(7,0):EDX[24]',
                 'ldtilecfg sttilecfg tileloadd tileloaddt1 tilestored tilerelease tilezero', ''),
    'AMX_BF16': ('CPUID.(7,0):EDX[22]', 'tdpbf16ps', ''),
    'AMX_INT8': ('CPUID.(7,0):EDX[25]', 'tdpbssd tdpbsud tdpbusd tdpbuud', ''),
    # Any other tile instruction (AMX-FP16, AMX-COMPLEX, later): classify() drops this entry
    # when a named AMX table above already matched.
    'AMX_OTHER': ('AMX-FP16, AMX-COMPLEX and later', '', r'^(tdp|tcmm|ttdp|tile)\w*$'),
    # tzcnt is not here: F3 0F BC disassembles as tzcnt, and GCC emits it (rep bsf) for ctz on
    # any CPU, where it runs as bsf.
    'BMI1': ('CPUID.(7,0):EBX[3]', 'andn bextr blsi blsmsk blsr', ''),
    'LZCNT': ('CPUID.80000001h:ECX[5]', 'lzcnt', ''),
    'TBM': ('AMD CPUID.80000001h:ECX[21]',
            'blcfill blci blcic blcmsk blcs blsfill blsic t1mskc tzmsk', ''),
    'FMA4': ('AMD CPUID.80000001h:ECX[16]', '',
             r'^vfn?m(add|sub)(ps|pd|ss|sd)$|^vfm(addsub|subadd)(ps|pd)$'),
    'XOP': ('AMD CPUID.80000001h:ECX[11]',
            'vfrczps vfrczpd vfrczss vfrczsd vpcmov vpperm vphaddbw vphaddbd vphaddbq vphaddwd '
            'vphaddwq vphadddq vphaddubw vphaddubd vphaddubq vphadduwd vphadduwq vphaddudq '
            'vphsubbw vphsubwd vphsubdq',
            r'^vpcom(u?[bwdq]|(lt|le|gt|ge|eq|neq|false|true)u?[bwdq])$|^vprot[bwdq]$|^vpsh[al][bwdq]$|^vpmacs\w+$|^vpmadcs\w+$'),
    'SSE4A': ('AMD CPUID.80000001h:ECX[6]', 'extrq insertq movntsd movntss', ''),
    '3DNOW': ('AMD CPUID.80000001h:EDX[31,30]', 'femms pavgusb pi2fd pi2fw pf2id pf2iw pswapd',
              r'^pf(acc|add|cmp\w+|max|min|mul|rcp\w*|rsqrt\w*|sub|subr|n?pnacc|nacc)$'),
    'OTHER': ('ADX, MOVBE, RDRAND, RDSEED, PREFETCHW(T1), CLFLUSHOPT, CLWB, RTM, WAITPKG, '
              'MOVDIRI, SERIALIZE, CLDEMOTE, ENQCMD, UINTR, HRESET, RAO-INT, CMPCCXADD',
              'adcx adox movbe rdrand rdseed prefetchw prefetchwt1 clflushopt clwb xbegin xend '
              'xabort xtest umonitor umwait tpause movdiri movdir64b serialize cldemote enqcmd '
              'enqcmds uiret testui clui stui senduipi hreset aadd aand aor axor',
              r'^cmp[a-z]+xadd$'),
}

# Beyond baseline x86-64 (for the scalar files and the drivers): every VEX/EVEX instruction's
# mnemonic starts with v (the only others are VMX/SVM and verr/verw), BMI2 is not VEX-vector.
# POPCNT is not listed: runtime/popcount_words.cpp's count_bits_popcnt, dispatched on
# cpu_features().popcnt, is baseline code's one legitimate use.
NOT_AVX_V = re.compile(r'^(verr|verw|vm(call|launch|resume|xoff|xon|read|write|ptrld|ptrst|clear|'
                       r'func|run|load|save|mcall))$')
BMI2 = {'shlx', 'shrx', 'sarx', 'rorx', 'bzhi', 'pdep', 'pext', 'mulx'}

# AVX-512 at all (for the avx2 and scalar files): any operand only EVEX can encode, the mask
# instructions, and the EVEX-only instructions that may appear with xmm0-15/ymm0-15 operands and
# no decoration (Intel SDM vol. 2; AVX512F/BW/DQ/CD/VL and later).
AVX512_OPERAND = re.compile(r'\bzmm\d+|\b[xy]mm(1[6-9]|2\d|3[01])\b|\bk[0-7]\b|\{')
AVX512_MNEMONIC = re.compile(
    r'^k(mov|and|andn|or|xor|xnor|not|ortest|test|shiftl|shiftr|add|unpck)\w+$'
    r'|^vpternlog[dq]$|^vperm[it]2\w+$|^vp?(compress|expand)\w+$'
    r'|^vpmov(s|us)?(qb|qw|qd|db|dw|wb)$|^vpmov[bwdq]2m$|^vpmovm2[bwdq]$'
    r'|^vpro[lr]v?[dq]$|^vpsrav?q$|^vpabsq$|^vpm(ax|in)[su]q$|^vpmullq$'
    r'|^vcvt\w*(u(dq|qq|si|w)|qq)\w*$|^vcvt\w*2u\w+$'
    r'|^v(rndscale|scalef|getexp|getmant|fixupimm|range|reduce|fpclass)\w+$'
    r'|^v(rcp|rsqrt)14\w+$|^valign[dq]$|^vshuf[if](32x4|64x2)$'
    r'|^v(insert|extract)[if](32x4|64x2|32x8|64x4)$|^vbroadcast[if](32x2|32x4|64x2|32x8|64x4)$'
    r'|^vp(sllv|srlv|srav)w$|^vpermw$|^vdbpsadbw$|^vmovdq[au](8|16|32|64)$'
    r'|^v(p?blendm|ptestn?m)\w+$|^vpcmpu?[bwdq]$')

PREFIXES = {'lock', 'rep', 'repz', 'repe', 'repnz', 'repne', 'notrack', 'bnd', 'xacquire',
            'xrelease', 'cs', 'ds', 'es', 'ss', 'fs', 'gs', 'data16', 'data32', 'addr16',
            'addr32', '{vex}', '{vex3}', '{vex2}', '{evex}', '{disp8}', '{disp16}', '{disp32}',
            '{load}', '{store}', '{nooverride}', '{rex}', '{rex2}'}

# ISA of a source file -> extensions its dispatch condition adds to the base tier.
EXTRA = {
    'avx512': set(),
    'avx512vnni': {'AVX512_VNNI'},
    'avx512bf16': {'AVX512_BF16'},
    'amxbf16': {'AMX_TILE', 'AMX_BF16'},
    'amxint8': {'AMX_TILE', 'AMX_INT8'},
}
BASE = None  # owner of every function not compiled from an ISA file
# On top of the base rules: avx2 files use no AVX-512; scalar files and every other file (which
# run on any CPU) use neither AVX-512 nor AVX/AVX2/FMA/F16C/BMI2.
LOWER_TIERS = {'avx2': {'AVX512'}, 'scalar': {'AVX512', 'AVX/BMI2'}}
LEVEL_CLASSES = {'AVX512', 'AVX/BMI2'}  # classes, not extensions: never in EXTRA

# Compiler flags each rule set may enable (checked against cmake/JitsonFlags.cmake).
TIER_FLAGS = {
    'avx2': {'-mavx2', '-mfma', '-mbmi2', '-mpopcnt', '-mf16c'},
}
TIER_FLAGS['avx512'] = TIER_FLAGS['avx2'] | {'-mavx512f', '-mavx512bw', '-mavx512vl',
                                             '-mavx512dq', '-mavx512vpopcntdq'}
EXTENSION_FLAGS = {'-mavx512vnni': 'AVX512_VNNI', '-mavx512bf16': 'AVX512_BF16',
                   '-mamx-tile': 'AMX_TILE', '-mamx-bf16': 'AMX_BF16', '-mamx-int8': 'AMX_INT8'}

# Sanity floors: the audit must have found the code it is meant to check (about half of what a
# Release build has today, so a refactor does not trip them but an empty parse does).
MIN_BASE_TIER_FUNCTIONS = 12
MIN_BASE_TIER_INSTRUCTIONS = 2000
MIN_ALL_FUNCTIONS = 300
# Each extension file must be seen using its extension: proof that the disassembly is parsed.
CONTROLS = {'avx512vnni': 'AVX512_VNNI', 'avx512bf16': 'AVX512_BF16', 'amxbf16': 'AMX_BF16',
            'amxint8': 'AMX_INT8'}


def _compile_tables():
    tables = []
    for name, (_, words, pattern) in EXTENSIONS.items():
        tables.append((name, set(words.split()), re.compile(pattern) if pattern else None))
    return tables


TABLES = _compile_tables()


def parse_instruction(text):
    """'{vex} vpdpbusd ymm0,ymm1,ymm2  # comment' -> (prefixes, mnemonic, operands)."""
    if text.strip().startswith('<unknown>'):  # llvm-objdump's (bad)
        return [], '(bad)', ''
    text = text.split('#', 1)[0]
    text = re.sub(r'<[^>]*>', '', text).strip()  # symbolic jump targets
    words = text.split()
    prefixes = []
    while words and (words[0] in PREFIXES or words[0].startswith('rex.') or words[0] == 'rex'):
        prefixes.append(words.pop(0))
    if not words:
        return prefixes, '', ''
    return prefixes, words[0].lower(), ' '.join(words[1:]).lower()


def classify(prefixes, mnemonic, operands):
    """The set of extensions (outside the base tier) this instruction needs, plus the classes
    'AVX512' (any AVX-512) and 'AVX/BMI2' (anything beyond baseline x86-64), which matter only to
    the lower tiers' files and to baseline code."""
    found = set()
    if mnemonic == '(bad)':
        found.add('UNDECODABLE')
    for name, words, pattern in TABLES:
        if mnemonic in words or (pattern is not None and pattern.match(mnemonic)):
            found.add(name)
    if found & {'AMX_TILE', 'AMX_BF16', 'AMX_INT8'}:
        found.discard('AMX_OTHER')
    vex = '{vex}' in prefixes or '{vex3}' in prefixes
    if 'AVX512_VNNI' in found and vex:
        found.discard('AVX512_VNNI')
        found.add('AVX_VNNI')
    if 'AVX512_BF16' in found and vex:  # the VEX vcvtneps2bf16
        found.discard('AVX512_BF16')
        found.add('AVX_NE_CONVERT')
    if AVX512_OPERAND.search(operands) or AVX512_MNEMONIC.match(mnemonic) or '{evex}' in prefixes:
        found |= {'AVX512', 'AVX/BMI2'}
    if (mnemonic.startswith('v') and not NOT_AVX_V.match(mnemonic)) or mnemonic in BMI2:
        found.add('AVX/BMI2')
    return found


def violations(owners, extensions):
    """Extensions outside what every owner's dispatch guarantees (the strictest owner wins)."""
    bad = set()
    for owner in owners or {BASE}:
        allowed = EXTRA.get(owner, set())
        bad |= {e for e in extensions if e not in LEVEL_CLASSES and e not in allowed}
        forbidden = LOWER_TIERS.get('scalar' if owner is BASE else owner, set())
        bad |= extensions & forbidden
    return bad


# --- Tools and parsing.

def find_tool(kind, given=None):
    if given:
        return given
    candidates = {'objdump': ['objdump', 'llvm-objdump-19', 'llvm-objdump'],
                  'readelf': ['readelf', 'llvm-readelf-19', 'llvm-readelf']}[kind]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    sys.exit(f'isa_audit: no {kind} found (tried {", ".join(candidates)}); install binutils')


def run(argv):
    result = subprocess.run(argv, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f'isa_audit: {" ".join(argv)} failed: {result.stderr.strip()}')
    return result.stdout


def disassemble(objdump, path):
    """[(label, address, [(address, text)])] in file order. Intel syntax: no operand-size
    suffixes on mnemonics."""
    if 'llvm' in os.path.basename(objdump):
        argv = [objdump, '-d', '--no-show-raw-insn', '--x86-asm-syntax=intel', path]
    else:
        argv = [objdump, '-d', '-M', 'intel', '--no-show-raw-insn', '-w', path]
    return parse_disassembly(run(argv))


LABEL = re.compile(r'^([0-9a-f]+) <(.+)>:$')
INSN = re.compile(r'^\s*([0-9a-f]+):\s+(.*)$')


def parse_disassembly(text):
    functions = []
    for line in text.splitlines():
        m = LABEL.match(line)
        if m:
            functions.append((m.group(2), int(m.group(1), 16), []))
            continue
        m = INSN.match(line)
        if m and functions:
            functions[-1][2].append((int(m.group(1), 16), m.group(2)))
    return functions


def read_symbols(readelf, path):
    """FUNC symbols of .symtab (or the only table): [(file, name, bind, value, size, defined)]."""
    out = []
    current_file = ''
    table = None
    for line in run([readelf, '-sW', path]).splitlines():
        if line.startswith('Symbol table'):
            table = line.split("'")[1] if "'" in line else line
            current_file = ''
            continue
        fields = line.split()
        if len(fields) < 8 or not fields[0].rstrip(':').isdigit():
            continue
        if table == '.dynsym':
            continue  # .symtab has every symbol, with the FILE grouping
        _, value, size, kind, bind, _, ndx, name = fields[:8]
        name = name.split('@')[0]
        if kind == 'FILE':
            current_file = os.path.basename(name)
        elif kind == 'FUNC':
            out.append((current_file, name, bind, int(value, 16), int(size, 0), ndx != 'UND'))
    return out


def isa_of_source(source):
    stem = source.split('.')[0]
    token = stem.rsplit('_', 1)[-1]
    return token if token in EXTRA or token in LOWER_TIERS else BASE


def object_source(path):
    name = os.path.basename(path)
    return name[:-2] if name.endswith('.o') else name


# --- The audit.

def check_flags(specs):
    problems = []
    for spec in specs:
        isa, _, flags = spec.partition('=')
        flags = [f for f in re.split(r'[;\s]+', flags) if f]
        if isa in TIER_FLAGS:
            allowed = TIER_FLAGS[isa]
        elif isa in EXTRA:
            allowed = TIER_FLAGS['avx512'] | {f for f, e in EXTENSION_FLAGS.items()
                                              if e in EXTRA[isa]}
        else:
            problems.append(f'flag set {isa}: unknown to the audit; add its rules to isa_audit.py')
            continue
        for flag in flags:
            if flag not in allowed:
                problems.append(f'flag set {isa} enables {flag}, which its dispatch condition '
                                f'does not check (allowed: {" ".join(sorted(allowed))})')
    return problems


def ownership(readelf, objects, lib_symbols):
    """address -> set of owning ISAs for every function of the library."""
    local_names = {}   # source basename -> local FUNC names
    global_owner = {}  # name -> ISAs of the objects defining it (weak copies: several)
    for obj in objects:
        source = object_source(obj)
        isa = isa_of_source(source)
        for _, name, bind, _, _, defined in read_symbols(readelf, obj):
            if not defined:
                continue
            if bind == 'LOCAL':
                local_names.setdefault(source, set()).add(name)
            else:
                # A weak (inline, template) copy may be the one the linker keeps for callers in
                # any other file, so it must also meet the base rules.
                isas = {isa, BASE} if bind == 'WEAK' else {isa}
                global_owner.setdefault(name, set()).update(isas)
    owners, unattributed = {}, []
    for source, name, bind, value, size, defined in lib_symbols:
        if not defined or size == 0:
            continue
        if bind == 'LOCAL' and name in local_names.get(source, ()):
            isas = {isa_of_source(source)}
        elif name in global_owner:
            isas = global_owner[name]  # also hidden globals, which the link made LOCAL
        else:
            isas = {BASE}
            if bind == 'LOCAL' and isa_of_source(source) is not BASE:
                unattributed.append(f'{source}: {name}')
        owners.setdefault(value, set()).update(isas)
    return owners, unattributed


def demangle(names):
    filt = shutil.which('c++filt') or shutil.which('llvm-cxxfilt-19')
    if not filt or not names:
        return {n: n for n in names}
    result = subprocess.run([filt], input='\n'.join(names), capture_output=True, text=True)
    lines = result.stdout.splitlines()
    return dict(zip(names, lines)) if len(lines) == len(names) else {n: n for n in names}


EXTENSION_ISAS = set(EXTRA) - {'avx512'}


def category(owners):
    """Where a function's owners put it: an extension file's code runs only after its own check;
    everything else is reachable on the base avx512 tier."""
    if owners <= EXTENSION_ISAS:
        return 'extension ' + '+'.join(sorted(owners))
    if 'avx512' in owners:
        return 'avx512 files'
    if owners & set(LOWER_TIERS):
        return 'avx2/scalar files'
    return 'other (drivers, JIT, libstdc++)'


def audit_functions(functions, owner_of):
    """Returns (findings, stats, control). findings: [(label, owners, address, text, bad
    extensions)]; stats: category -> (functions, instructions); control: extension ISA -> the
    extensions seen in its functions."""
    findings = []
    stats = {}
    control = {isa: set() for isa in CONTROLS}
    for label, start, insns in functions:
        owners = owner_of(label, start)
        key = category(owners)
        n_functions, n_insns = stats.get(key, (0, 0))
        stats[key] = (n_functions + 1, n_insns + len(insns))
        for address, text in insns:
            extensions = classify(*parse_instruction(text))
            if not extensions:
                continue
            for owner in owners:
                if owner in control:
                    control[owner] |= extensions
            bad = violations(owners, extensions)
            if bad:
                findings.append((label, owners, address, text.strip(), bad))
    return findings, stats, control


def report(findings):
    names = demangle(sorted({f[0] for f in findings}))
    for label, owners, address, text, bad in findings[:200]:
        where = ', '.join(sorted(o or 'base' for o in owners))
        print(f'FAIL {names.get(label, label)} [{where}] at 0x{address:x}: {text}  '
              f'-> needs {", ".join(sorted(bad))}', file=sys.stderr)
    if len(findings) > 200:
        print(f'... and {len(findings) - 200} more', file=sys.stderr)


def audit(library, objects, flag_specs, objdump=None, readelf=None):
    objdump, readelf = find_tool('objdump', objdump), find_tool('readelf', readelf)
    errors = check_flags(flag_specs)
    if not objects:
        errors.append('no object files given (--objects): nothing to attribute functions to')
    isa_objects = [o for o in objects if isa_of_source(object_source(o)) is not BASE]
    if not os.path.exists(library):
        print(f'isa_audit: error: {library} does not exist (build the jitson target first)',
              file=sys.stderr)
        return 1
    if library.endswith('.a'):
        # A static library is the objects themselves (the application's link picks among weak
        # copies later): each function is checked under its own object's rules, weak ones also
        # under the base rules, as in ownership().
        functions, owner_by_label = [], {}
        for obj in objects:
            isa = isa_of_source(object_source(obj))
            weak = {name for _, name, bind, _, _, defined in read_symbols(readelf, obj)
                    if defined and bind == 'WEAK'}
            for label, start, insns in disassemble(objdump, obj):
                key = f'{object_source(obj)}:{label}'
                functions.append((key, start, insns))
                owner_by_label[key] = {isa, BASE} if label in weak else {isa}
        owner_of = lambda label, start: owner_by_label[label]  # noqa: E731
    else:
        lib_symbols = read_symbols(readelf, library)
        if not lib_symbols:
            errors.append(f'{library} has no symbol table (stripped?): cannot attribute functions')
        owners, unattributed = ownership(readelf, isa_objects, lib_symbols)
        for item in unattributed[:20]:
            errors.append(f'local function {item} not found in its object file: attribution '
                          'through STT_FILE symbols is broken')
        functions = disassemble(objdump, library)
        owner_of = lambda label, start: owners.get(start, {BASE})  # noqa: E731

    findings, stats, control = audit_functions(functions, owner_of)
    total_functions = sum(n for n, _ in stats.values())
    total_insns = sum(i for _, i in stats.values())
    base_functions, base_insns = stats.get('avx512 files', (0, 0))
    reachable = [v for k, v in stats.items() if not k.startswith('extension')]
    print(f'isa_audit: {library}: {total_functions} functions, {total_insns} instructions')
    for key, (n, i) in sorted(stats.items()):
        print(f'  {key:>34}: {n:6} functions {i:8} instructions')
    print(f'isa_audit: reachable on the base avx512 tier: {sum(n for n, _ in reachable)} '
          f'functions, {sum(i for _, i in reachable)} instructions, of them from *_avx512 '
          f'files: {base_functions} functions, {base_insns} instructions')

    if base_functions < MIN_BASE_TIER_FUNCTIONS or base_insns < MIN_BASE_TIER_INSTRUCTIONS:
        errors.append(f'found only {base_functions} functions / {base_insns} instructions from '
                      f'*_avx512 files (expected at least {MIN_BASE_TIER_FUNCTIONS} / '
                      f'{MIN_BASE_TIER_INSTRUCTIONS}): the audit is not seeing the base tier')
    if total_functions < MIN_ALL_FUNCTIONS:
        errors.append(f'found only {total_functions} functions in {library}')
    present = {isa_of_source(object_source(o)) for o in isa_objects}
    for isa, extension in CONTROLS.items():
        if isa not in present:
            errors.append(f'no object of ISA {isa} given: the {extension} control cannot run')
        elif extension not in control[isa]:
            errors.append(f'control failed: the {isa} functions show no {extension} instruction, '
                          'so the disassembly or the attribution is not being read right')
        else:
            print(f'isa_audit: control: {isa} functions use {extension}, as expected')

    if findings:
        report(findings)
        errors.append(f'{len(findings)} instructions outside their function\'s dispatch '
                      'condition (listed above)')
    for e in errors:
        print(f'isa_audit: error: {e}', file=sys.stderr)
    if errors:
        return 1
    print('isa_audit: ok')
    return 0


# --- Self-test: the classifier and the end-to-end path on known instructions.

SELF_TEST_CASES = [
    # (instruction text, owner ISA, expected violations)
    ('vpdpbusd zmm0,zmm1,zmm2', 'avx512', {'AVX512_VNNI'}),
    ('vpdpbusds zmm0{k1},zmm1,ZMMWORD PTR [rax]', 'avx512', {'AVX512_VNNI'}),
    ('{vex} vpdpbusd ymm0,ymm1,ymm2', 'avx512', {'AVX_VNNI'}),
    ('{vex} vpdpbusd ymm0,ymm1,ymm2', 'avx512vnni', {'AVX_VNNI'}),
    ('vpdpbusd zmm0,zmm1,zmm2', 'avx512vnni', set()),
    ('vdpbf16ps zmm0,zmm1,zmm2', 'avx512', {'AVX512_BF16'}),
    ('vcvtne2ps2bf16 zmm0,zmm1,zmm2', None, {'AVX512_BF16', 'AVX512', 'AVX/BMI2'}),
    ('vcvtneps2bf16 ymm0,ZMMWORD PTR [rdi]', 'avx512vnni', {'AVX512_BF16'}),
    ('vdpbf16ps zmm0,zmm1,zmm2', 'avx512bf16', set()),
    ('{vex} vcvtneps2bf16 xmm0,ymm1', 'avx512bf16', {'AVX_NE_CONVERT'}),
    ('vpopcntb zmm0,zmm1', 'avx512', {'AVX512_BITALG'}),
    ('vpshufbitqmb k1,zmm0,zmm1', 'avx512', {'AVX512_BITALG'}),
    ('vpermb zmm0,zmm1,zmm2', 'avx512', {'AVX512_VBMI'}),
    ('vpshldvq zmm0,zmm1,zmm2', 'avx512', {'AVX512_VBMI2'}),
    ('vpmadd52luq zmm0,zmm1,zmm2', 'avx512', {'AVX512_IFMA'}),
    ('vpconflictd zmm0,zmm1', 'avx512', {'AVX512CD'}),
    ('vplzcntq zmm0,zmm1', 'avx512', {'AVX512CD'}),
    ('vgf2p8affineqb zmm0,zmm1,zmm2,0x0', 'avx512', {'GFNI'}),
    ('vaesenc zmm0,zmm1,zmm2', 'avx512', {'AES_VAES_KL'}),
    ('vpclmulqdq zmm0,zmm1,zmm2,0x0', 'avx512', {'PCLMULQDQ_VPCLMULQDQ'}),
    ('vaddph zmm0,zmm1,zmm2', 'avx512', {'AVX512_FP16'}),
    ('vcvtph2psx zmm0,ymm1', 'avx512', {'AVX512_FP16'}),
    ('vcvtps2phx ymm0,zmm1', 'avx512', {'AVX512_FP16'}),
    ('vcvtsh2ss xmm0,xmm1,xmm2', 'avx512', {'AVX512_FP16'}),
    ('tileloadd tmm4,[rax+rdx*1]', 'avx512', {'AMX_TILE'}),
    ('tdpbf16ps tmm0,tmm4,tmm6', 'amxint8', {'AMX_BF16'}),
    ('tdpbusd tmm0,tmm4,tmm6', 'amxint8', set()),
    ('ldtilecfg [rax]', 'amxbf16', set()),
    ('andn rax,rbx,rcx', None, {'BMI1'}),
    ('lzcnt rax,rbx', 'avx512', {'LZCNT'}),
    ('vfmaddps xmm0,xmm1,xmm2,xmm3', 'avx512', {'FMA4'}),
    ('vpcmov xmm0,xmm1,xmm2,xmm3', 'avx512', {'XOP'}),
    # Inside the tier: F, BW, VL, DQ, VPOPCNTDQ, AVX2, FMA, BMI2, POPCNT, F16C.
    ('vpopcntq zmm0,zmm1', 'avx512', set()),
    ('vpopcntd ymm0{k1}{z},ymm1', 'avx512', set()),
    ('vpternlogq zmm0,zmm1,zmm2,0x28', 'avx512', set()),
    ('vpmovwb YMMWORD PTR [rdi]{k1},zmm0', 'avx512', set()),
    ('kmovb k1,eax', 'avx512', set()),
    ('vpmullq zmm0,zmm1,zmm2', 'avx512', set()),
    ('vextracti64x2 xmm0,zmm1,0x1', 'avx512', set()),
    ('vandps zmm0,zmm1,zmm2', 'avx512', set()),
    ('vcvtps2ph xmm0,ymm1,0x4', 'avx512', set()),
    ('vcvtph2ps zmm0,ymm1', 'avx512', set()),
    ('vfmadd231ps zmm0,zmm1,DWORD PTR [rax]{1to16}', 'avx512', set()),
    ('vfmadd231ps ymm0,ymm1,ymm2', 'avx2', set()),
    ('shlx rax,rbx,rcx', 'avx2', set()),
    ('bzhi rax,rbx,rcx', 'avx512', set()),
    ('bzhi rax,rbx,rcx', 'scalar', {'AVX/BMI2'}),
    ('vpxor xmm0,xmm0,xmm0', None, {'AVX/BMI2'}),
    ('pxor xmm0,xmm0', None, set()),
    ('popcnt rax,rbx', 'scalar', set()),
    ('tzcnt rax,rax', None, set()),
    ('popcnt rax,rbx', None, set()),
    ('rep stos QWORD PTR es:[rdi],rax', None, set()),
    ('cs nop WORD PTR [rax+rax*1+0x0]', None, set()),
    ('call 1234 <_ZN6jitson3fooEv@plt>', None, set()),
    ('xgetbv', None, set()),
    # Lower tiers: no AVX-512 at all.
    ('vpaddd zmm0,zmm1,zmm2', 'avx2', {'AVX512'}),
    ('vpaddd ymm16,ymm1,ymm2', 'avx2', {'AVX512'}),
    ('vpaddd ymm0{k1},ymm1,ymm2', 'avx2', {'AVX512'}),
    ('vpternlogd ymm0,ymm1,ymm2,0x96', 'avx2', {'AVX512'}),
    ('kmovw k1,eax', 'scalar', {'AVX512', 'AVX/BMI2'}),
    ('vpshufb ymm0,ymm1,ymm2', 'avx2', set()),
    ('vpcompressd zmm0{k1},zmm1', 'avx512', set()),
    ('vcvtps2ph ymm0,zmm1,0x4', 'avx512', set()),
    ('tdpfp16ps tmm0,tmm1,tmm2', 'amxbf16', {'AMX_OTHER'}),
    ('<unknown>', 'avx512vnni', {'UNDECODABLE'}),
    ('vpaddd zmm0,zmm1,zmm2', None, {'AVX512', 'AVX/BMI2'}),
    ('vpaddd zmm0,zmm1,zmm2', 'avx512', set()),
]

SELF_TEST_DISASSEMBLY = """
0000000000001000 <_ZN6jitson4impl13hamming_avx512EPKhS2_m>:
    1000:\tvpxor  xmm0,xmm0,xmm0
    1004:\tvpopcntq zmm1,zmm2
    100a:\tret
0000000000001010 <_ZN6jitson4impl12_GLOBAL__N_16helperEv>:
    1010:\tvpdpbusd zmm0,zmm1,zmm2
    1016:\tret
0000000000001020 <_ZN6jitson4impl17dot_i8_avx512vnniEPKhS2_m>:
    1020:\tvpdpbusd zmm0,zmm1,zmm2
    1026:\tret
0000000000001030 <_ZN6jitson11bf16_detail22f32_to_bf16_avx512bf16EPKfPtm>:
    1030:\tvcvtne2ps2bf16 zmm0,zmm1,zmm2
    1036:\tret
0000000000001040 <_ZN6jitson4impl11hamming_avx2EPKhS2_m>:
    1040:\tvpaddq zmm0,zmm1,zmm2
    1046:\tret
"""


def self_test():
    failures = []
    for text, owner, expected in SELF_TEST_CASES:
        got = violations({owner}, classify(*parse_instruction(text)))
        if got != expected:
            failures.append(f'{text!r} in a {owner or "base"} function: expected '
                            f'{sorted(expected)}, got {sorted(got)}')
    # End to end: a base-tier helper holding vpdpbusd must be reported with its name and the
    # instruction; the same instruction in the VNNI function must not.
    owners = {0x1000: {'avx512'}, 0x1010: {'avx512'}, 0x1020: {'avx512vnni'},
              0x1030: {'avx512'}, 0x1040: {'avx2'}}
    functions = parse_disassembly(SELF_TEST_DISASSEMBLY.replace('\\t', '\t'))
    findings, stats, _ = audit_functions(functions, lambda label, start: owners[start])
    got = sorted((f[0], f[3].split()[0], tuple(sorted(f[4]))) for f in findings)
    expected = sorted([('_ZN6jitson4impl12_GLOBAL__N_16helperEv', 'vpdpbusd', ('AVX512_VNNI',)),
                       ('_ZN6jitson11bf16_detail22f32_to_bf16_avx512bf16EPKfPtm',
                        'vcvtne2ps2bf16', ('AVX512_BF16',)),
                       ('_ZN6jitson4impl11hamming_avx2EPKhS2_m', 'vpaddq', ('AVX512',))])
    if got != expected:
        failures.append(f'end to end: expected findings {expected}, got {got}')
    if stats.get('avx512 files') != (3, 7):
        failures.append(f'end to end: expected 3 avx512 functions / 7 instructions, got '
                        f'{stats.get("avx512 files")}')
    if check_flags(['avx512=-mavx2 -mavx512f -mavx512vnni']) == []:
        failures.append('flag check: -mavx512vnni in the avx512 set was not reported')
    if check_flags(['avx512vnni=-mavx512f;-mavx512vnni', 'amxint8=-mamx-tile;-mamx-int8']):
        failures.append('flag check: a valid extension set was reported')
    if check_flags(['amxint8=-mamx-tile;-mamx-bf16']) == []:
        failures.append('flag check: -mamx-bf16 in the amxint8 set was not reported')
    for f in failures:
        print(f'isa_audit self-test: FAIL {f}', file=sys.stderr)
    if failures:
        return 1
    print(f'isa_audit self-test: ok ({len(SELF_TEST_CASES)} instructions, end to end, flags)')
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--library', help='libjitson.so (with its .symtab) or libjitson.a')
    parser.add_argument('--objects', nargs='*', default=[],
                        help="the library's object files (a ';'-separated list is split)")
    parser.add_argument('--flags', nargs='*', default=[],
                        help="ISA=FLAGS: a flag set of cmake/JitsonFlags.cmake (';'-separated)")
    parser.add_argument('--objdump', help='default: objdump, else llvm-objdump(-19)')
    parser.add_argument('--readelf', help='default: readelf, else llvm-readelf(-19)')
    parser.add_argument('--self-test', action='store_true')
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.library:
        parser.error('--library is required (or --self-test)')
    objects = [o for arg in args.objects for o in arg.split(';') if o]
    if self_test() != 0:
        return 1
    return audit(args.library, objects, args.flags, args.objdump, args.readelf)


if __name__ == '__main__':
    sys.exit(main())
