"""gcp-storage-emulator, as the backup test runs it (arguments as its `start` command's).

Real Cloud Storage answers every XML-API upload and download with an ETag and a Last-Modified
header, and object_store's GCS client requires both; the emulator (2026.7.19) sends neither on
those two routes. This adds them, from the object's own MD5 and update time, and changes
nothing else.
"""

import email.utils
import sys
from datetime import datetime

from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main
from gcp_storage_emulator.handlers import objects


def with_headers(handler):
    def handle(request, response, storage, *args, **kwargs):
        handler(request, response, storage, *args, **kwargs)
        try:
            obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
        except Exception:
            return
        response["ETag"] = '"{}"'.format(obj["md5Hash"])
        updated = datetime.fromisoformat(obj["updated"].replace("Z", "+00:00"))
        response["Last-Modified"] = email.utils.format_datetime(updated, usegmt=True)

    return handle


patched = {objects.xml_upload: with_headers(objects.xml_upload), objects.download: with_headers(objects.download)}
for _, methods in server.HANDLERS:
    for method, handler in list(methods.items()):
        if handler in patched:
            methods[method] = patched[handler]

sys.argv[0] = "gcp-storage-emulator"
sys.exit(main())
