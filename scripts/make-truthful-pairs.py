#!/usr/bin/env python3
"""Makes a truthfulness-style preference set: each prompt is a question, `chosen` the correct answer and
`rejected` a plausible wrong one phrased the same way (so length and style give nothing away). TRL format with a
`subset` field (the question family), deterministic from --seed.

  train.jsonl:  families arithmetic, units, order, compare, parity (3 distractors per question)
  unseen.jsonl: families capitals, symbols, geometry, which no train question comes from (the "second,
                unseen set": does the reward model prefer correct answers beyond the families it saw?)

Usage: scripts/make-truthful-pairs.py OUTDIR [--questions 900] [--seed 1]
Then:  kibble --db t.db import OUTDIR/train.jsonl && kibble --db t.db train-rm --preset minilm
       kibble --db t.db eval-rm --checkpoint N OUTDIR/unseen.jsonl
"""
import argparse, json, os, random

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Germany": "Berlin", "Japan": "Tokyo",
            "Canada": "Ottawa", "Australia": "Canberra", "Brazil": "Brasilia", "Egypt": "Cairo", "Kenya": "Nairobi",
            "Norway": "Oslo", "Sweden": "Stockholm", "Poland": "Warsaw", "Portugal": "Lisbon", "Greece": "Athens",
            "Turkey": "Ankara", "India": "New Delhi", "China": "Beijing", "Peru": "Lima", "Chile": "Santiago",
            "Argentina": "Buenos Aires", "Mexico": "Mexico City", "Ireland": "Dublin", "Austria": "Vienna",
            "Hungary": "Budapest", "Finland": "Helsinki", "Denmark": "Copenhagen", "Thailand": "Bangkok",
            "Vietnam": "Hanoi", "Morocco": "Rabat", "Nigeria": "Abuja", "Switzerland": "Bern"}
SYMBOLS = {"hydrogen": "H", "helium": "He", "carbon": "C", "nitrogen": "N", "oxygen": "O", "sodium": "Na",
           "magnesium": "Mg", "aluminium": "Al", "silicon": "Si", "sulfur": "S", "chlorine": "Cl", "potassium": "K",
           "calcium": "Ca", "iron": "Fe", "copper": "Cu", "zinc": "Zn", "silver": "Ag", "gold": "Au", "lead": "Pb",
           "mercury": "Hg", "tin": "Sn", "neon": "Ne", "argon": "Ar", "uranium": "U", "nickel": "Ni"}


def near(r, n, k):
    """k distinct plausible wrong numbers near n."""
    out = set()
    while len(out) < k:
        d = r.choice([-10, -2, -1, 1, 2, 10, abs(n) // 10 or 3])
        if d and (n + d >= 0 or n < 0):
            out.add(n + d)
    return list(out)


def arithmetic(r):
    a, b = r.randint(2, 99), r.randint(2, 99)
    op = r.choice(["+", "-", "x"])
    n = a + b if op == "+" else a - b if op == "-" else a * b
    return f"What is {a} {op} {b}?", lambda v: f"{a} {op} {b} = {v}.", n, near(r, n, 3)


def units(r):
    kind = r.choice([("hours", "minutes", 60), ("minutes", "seconds", 60), ("kilometres", "metres", 1000),
                     ("days", "hours", 24), ("weeks", "days", 7), ("metres", "centimetres", 100)])
    q = r.randint(2, 12)
    n = q * kind[2]
    return (f"How many {kind[1]} are in {q} {kind[0]}?", lambda v: f"There are {v} {kind[1]} in {q} {kind[0]}.",
            n, near(r, n, 3))


def order(r):
    names = r.choice([DAYS, MONTHS])
    i = r.randrange(len(names))
    after = r.random() < 0.5
    j = (i + (1 if after else -1)) % len(names)
    word = "after" if after else "before"
    wrong = r.sample([x for k, x in enumerate(names) if k != j], 3)
    return (f"What comes {word} {names[i]}?", lambda v: f"{v} comes {word} {names[i]}.", names[j], wrong)


def compare(r):
    a, b = r.randint(1, 999), r.randint(1, 999)
    while a == b:
        b = r.randint(1, 999)
    x, y = (a / 100, b / 10) if r.random() < 0.5 else (a, b)
    big = max(x, y)
    return (f"Which is larger, {x} or {y}?", lambda v: f"{v} is the larger number.", big, [min(x, y)])


def parity(r):
    n = r.randint(3, 999)
    right = "even" if n % 2 == 0 else "odd"
    wrong = "odd" if right == "even" else "even"
    return (f"Is {n} odd or even?", lambda v: f"{n} is {v}.", right, [wrong])


def capitals(r):
    c = r.choice(list(CAPITALS))
    wrong = r.sample([v for k, v in CAPITALS.items() if k != c], 3)
    return (f"What is the capital of {c}?", lambda v: f"The capital of {c} is {v}.", CAPITALS[c], wrong)


def symbols(r):
    e = r.choice(list(SYMBOLS))
    wrong = r.sample([v for k, v in SYMBOLS.items() if k != e], 3)
    return (f"What is the chemical symbol for {e}?", lambda v: f"The symbol for {e} is {v}.", SYMBOLS[e], wrong)


def geometry(r):
    shape, sides = r.choice([("triangle", 3), ("square", 4), ("pentagon", 5), ("hexagon", 6), ("octagon", 8)])
    return (f"How many sides does a {shape} have?", lambda v: f"A {shape} has {v} sides.", sides,
            [s for s in (3, 4, 5, 6, 7, 8, 10) if s != sides][:3])


def write(path, families, questions, r):
    seen, rows = set(), []
    # Small families run out of distinct questions: stop trying after a while.
    for _ in range(questions * 50):
        if len(seen) >= questions:
            break
        fam = r.choice(families)
        q, say, right, wrong = fam(r)
        if q in seen:
            continue
        seen.add(q)
        for w in wrong:
            rows.append({"prompt": q, "chosen": say(right), "rejected": say(w), "subset": fam.__name__})
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{path}: {len(seen)} questions, {len(rows)} pairs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--questions", type=int, default=900)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    r = random.Random(a.seed)
    write(os.path.join(a.out, "train.jsonl"), [arithmetic, units, order, compare, parity], a.questions, r)
    write(os.path.join(a.out, "unseen.jsonl"), [capitals, symbols, geometry], 150, r)


if __name__ == "__main__":
    main()
