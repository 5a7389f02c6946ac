# pedalcore: the pedal firmware package (MicroPython). The boot loader calls
# pedalcore.app.run(slot_dir, settings_path); see docs/architecture.md.
VERSION = "0.1.0"
