"""The toolbar's device menu: empty and disabled until the engine has listed the devices."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget

from s2s_desktop.engine.api import EngineInfo


class DeviceBox(QComboBox):
    chosen = Signal(str)  # a device the user picked ("cpu", "cuda:0", ...)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, enabled=False, toolTip="Where the model runs (the engine is loading)")
        self.setMinimumContentsLength(18)
        self.devices: tuple[str, ...] = ()
        self.activated.connect(lambda index: self.chosen.emit(self.itemData(index)))

    def set_devices(self, info: EngineInfo) -> None:
        self.devices = tuple(info.devices)
        self.clear()
        for dev in self.devices:
            self.addItem(info.labels.get(dev, dev), dev)
        self.setEnabled(True)
        self.setToolTip("Where the model runs; changing it reloads the model there")

    def select(self, device: str) -> None:
        """Show `device` as the current one ("auto": the first GPU, else the CPU)."""
        if device == "auto":
            device = next((d for d in self.devices if d.startswith("cuda")), "cpu")
        if device == "cuda":
            device = "cuda:0"
        index = self.findData(device)
        if index >= 0:
            self.setCurrentIndex(index)
