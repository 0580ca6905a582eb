import random, sys
def gen(seed):
    r = random.Random(seed)
    out = []
    indent = 0
    for _ in range(r.randint(5, 120)):
        k = r.random()
        ind = " " * indent
        if k < 0.12:
            out.append(ind + r.choice(["def f(a):", "class C:", "if x:", "for i in y:", "try:", "while a:", "with a as b:"]))
            indent += r.choice([4, 4, 2, 8])
        elif k < 0.22 and indent:
            indent = max(0, indent - r.choice([2, 4, 8]))
            out.append(" " * indent + r.choice(["x = 1", "pass", "except E:", "else:", "return 2", "'''doc'''", "f'a{b}'"]))
            if out[-1].endswith(":"): indent += 4
        elif k < 0.55:
            ci = r.choice([0, 0, indent, indent, max(0, indent - 4), indent + 4, r.randint(0, 12)])
            ws = r.choice([" ", " ", "\t"]) if r.random() < 0.1 else " "
            out.append(ws * ci + "#" + r.choice(["", " c", " comment x", "#", " ' quote"]) )
        elif k < 0.62:
            out.append(r.choice(["", "   ", "\t", "\f"]))
        elif k < 0.70:
            out.append(ind + r.choice(["x = (1,", "y = [", "z = {"]))
            for _ in range(r.randint(0, 3)):
                out.append(" " * r.randint(0, 8) + r.choice(["# inside", "2,", ""]))
            out.append(ind + r.choice([")", "]", "}"]))
        elif k < 0.74:
            out.append(ind + "x = 1 + \\")
            out.append(" " * r.randint(0, 8) + r.choice(["2", "# c", ""]))
        elif k < 0.78:
            out.append(ind + r.choice(["\"s\"", "'t'", "b'u'", "rf'{x}'"]))
        elif k < 0.82:
            out.append(ind + r.choice([")", "def", "else", "@", "x = = 1", "\\ x", "\x00", "`"]))
        else:
            out.append(ind + r.choice(["x = 1", "foo(a)", "return", "pass", "y = 2  # trailing", "break"]))
    sep = "\r\n" if r.random() < 0.1 else "\n"
    s = sep.join(out)
    if r.random() < 0.7: s += sep
    return s
d = sys.argv[1]; a = int(sys.argv[2]); b = int(sys.argv[3])
for i in range(a, b):
    open(f"{d}/{i:05d}.py", "w", newline="").write(gen(i))
