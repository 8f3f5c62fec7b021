"""Builds a Roster cursor (scim::list::encode_cursor) for an unfiltered list: make-cursor.py POSITION [User|Group].
For benchmarks only: it starts a cursor walk at a given depth without walking there first."""
import base64, struct, sys
def fnv(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b; h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
pos = int(sys.argv[1]); rt = sys.argv[2] if len(sys.argv) > 2 else "User"
p = struct.pack(">q", pos)
chk = struct.pack(">Q", fnv(b"roster-cursor" + rt.encode() + b"\0" + b"" + p))[:6]
print(base64.urlsafe_b64encode(bytes([1]) + p + chk).decode().rstrip("="))
