"""The workflow's library: one module per piece of knowledge, called by the thin job scripts."""

from almacal import io_record

io_record.register()  # only when ALMACAL_IO_LOG is set (the scale benchmark)
