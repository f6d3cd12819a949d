"""What the hand-off checks read from a kibble DB: the newest checkpoint's stored scores, and prompts as the
reward models see them."""
import json
import sqlite3


def stored_scores(db, limit):
    """(prompt body, answer, normalised score) of the newest checkpoint's first head, at most `limit`."""
    return sqlite3.connect(db).execute(
        "select p.body, c.text, s.value from scores s join candidates c on c.id = s.candidate_id "
        "join prompts p on p.id = c.prompt_id where s.head = 0 and s.checkpoint_id = "
        "(select max(checkpoint_id) from scores) order by c.id limit ?", (limit,)).fetchall()


def plain(body):
    """A stored prompt as reward models read it: its text, or a chat's turns as 'role: content' lines."""
    try:
        v = json.loads(body)
    except Exception:
        return body
    if isinstance(v, str):
        return v
    return "\n".join(f"{m['role']}: {m['content']}" for m in v)
