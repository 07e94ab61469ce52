"""A minimal asyncio SMTP sink for benchmarks: answers 250 to everything, counts messages.

Not a real server (no parsing beyond line framing), so it is never the bottleneck. Run:
python bench/smtp_sink.py PORTFILE ; it writes its port to PORTFILE and, on SIGTERM, the count
of accepted messages to PORTFILE.count.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

COUNT = 0


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global COUNT
    writer.write(b"220 sink ESMTP\r\n")
    in_data = False
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    COUNT += 1
                    writer.write(b"250 2.0.0 OK\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
            elif verb == b"DATA":
                in_data = True
                writer.write(b"354 go ahead\r\n")
            elif verb == b"XCNT":  # bench only: how many messages so far
                writer.write(f"250 {COUNT}\r\n".encode())
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(portfile: Path) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    portfile.write_text(str(server.sockets[0].getsockname()[1]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    Path(f"{portfile}.count").write_text(str(COUNT))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
