"""Run a bundle (or any command) as the app's training child on a tiny generated corpus.

    python3 packaging/check_training_child.py WORK_DIR OUT_DIR COMMAND...

e.g. COMMAND = dist/s2s-desktop/s2s-desktop --s2s-training-child. Speaks the protocol of
s2s_desktop.engine.training.child: one JSON job line on stdin (kept open: a closed stdin tells the
child to stop), JSON events back on stdout. Writes OUT_DIR/training.jsonl and OUT_DIR/training.stderr
and exits 0 when the child reports "finished" and saved WORK_DIR/run/best.s2s. Uses only the standard
library, so it runs with any python3 (packaging/check_bundle.sh --training calls it).
"""

import json
import random
import subprocess
import sys
from pathlib import Path


def main() -> int:
    work, out, cmd = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    en = "the a cat dog house tree big small red blue sees likes has runs walks I you we they".split()
    de = "der die das Katze Hund Haus Baum gross klein rot blau sieht mag hat laeuft geht ich du wir sie".split()
    with open(work / "tiny.tsv", "w", encoding="utf-8") as f:
        for _ in range(600):
            idx = [rng.randrange(len(en)) for _ in range(rng.randint(3, 8))]
            f.write(" ".join(en[j] for j in idx) + "\t" + " ".join(de[j] for j in idx) + "\n")
    job = {
        "model": {"arch": "transformer", "src_vocab_size": 60, "tgt_vocab_size": 60, "emb_size": 32, "heads": 2,
                  "ff_size": 64, "encoder_layers": 1, "decoder_layers": 1, "dropout": 0.1},
        "train": {"out_dir": str(work / "run"), "src_lang": "en", "tgt_lang": "de", "train_tsv": str(work / "tiny.tsv"),
                  "valid_size": 50, "vocab_size": 60, "batch_tokens": 400, "max_steps": 12, "valid_every": 6,
                  "log_every": 3, "threads": 1},
        "resume": False,
        "nice": 0,
    }
    events = []
    with open(out / "training.stderr", "wb") as err, open(out / "training.jsonl", "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        proc.stdin.write((json.dumps(job) + "\n").encode())
        proc.stdin.flush()
        for line in proc.stdout:
            log.write(line)
            try:
                event = json.loads(line).get("event")
            except ValueError:
                continue
            events.append(event)
            if event in ("finished", "process_error"):
                break
        proc.stdin.close()  # the run is over: let the child exit
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    counts = {e: events.count(e) for e in dict.fromkeys(events)}
    print(f"child exit code {proc.returncode}; events: {json.dumps(counts)}")
    ok = "finished" in events and (work / "run" / "best.s2s").is_file()
    print("OK: the training child finished and saved run/best.s2s" if ok else
           f"FAIL: the training child did not finish (see {out}/training.jsonl, {out}/training.stderr)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
