"""Typed configuration of one city: what every stage reads at start-up.

Each model documents its fields (``title``/``description``) so the YAML files
under ``config/cities/<city>/`` are self-describing, and a mistake is reported
with the file, the key and what was expected (see :mod:`config.loader`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.history.mapping import HistorySource

__all__ = [
    "AutoDispatch",
    "Basemap",
    "Camera",
    "CameraZone",
    "CaseKind",
    "CityConfig",
    "CitySettings",
    "Confirmation",
    "Department",
    "District",
    "GeoPoint",
    "Homography",
    "Open311Settings",
    "Routing",
    "RoutingRule",
    "SlaHours",
    "Taxonomy",
    "TaxonomyNode",
    "VisionSettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeoPoint(_Strict):
    lat: float = Field(ge=-90, le=90, description="Latitude, WGS84 degrees")
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS84 degrees")


class Basemap(_Strict):
    """Street map under the console's cases; empty: the district outlines alone (works offline)."""

    tile_url: str = Field(
        default="", description="XYZ raster tile URL, https://host/{z}/{x}/{y}.png; the console's CSP allows its origin"
    )
    pmtiles: str = Field(default="", description="Local raster PMTiles file (path, absolute or relative to the repo)")
    attribution: str = Field(default="", description="Credit shown on the map, as the tiles' licence requires")
    max_zoom: int = Field(default=19, ge=1, le=22, description="Deepest zoom the tiles exist for")

    @model_validator(mode="after")
    def _one_source(self) -> Basemap:
        if self.tile_url and self.pmtiles:
            raise ValueError("basemap: give tile_url or pmtiles, not both")
        if self.tile_url and not self.tile_url.startswith(("https://", "http://")):
            raise ValueError(f"basemap.tile_url must be an http(s) URL, got {self.tile_url!r}")
        return self


class CitySettings(_Strict):
    id: str = Field(description="Short identifier of the city, e.g. 'spb'")
    name: str = Field(description="Display name")
    timezone: str = Field(default="UTC", description="IANA time zone used for digests and reports")
    languages: list[str] = Field(default_factory=list, description="ISO 639-1 codes expected on the hotline")
    center: GeoPoint = Field(description="Map centre")
    h3_resolution: int = Field(default=8, ge=0, le=15, description="H3 resolution of heat-map cells")
    basemap: Basemap = Field(default_factory=Basemap, description="Street map tiles for the console (optional)")


class District(_Strict):
    id: str = Field(description="Stable identifier used in keys and topics")
    name: str = Field(description="Display name, in the city's language")
    center: GeoPoint = Field(description="Used when a report carries neither coordinates nor an address")
    polygon: list[tuple[float, float]] = Field(
        default_factory=list, description="Boundary as [lat, lon] pairs; empty when unknown"
    )


class TaxonomyNode(_Strict):
    id: str
    label: str
    level: int = Field(ge=0, description="0 is the top level")
    parent: str | None = Field(default=None, description="Parent node id; null at level 0")


class Taxonomy(_Strict):
    levels: list[str] = Field(
        min_length=1, description="Level names, top first, e.g. [city_object, category, reason]"
    )
    nodes: list[TaxonomyNode]

    @model_validator(mode="after")
    def _parents_exist(self) -> Taxonomy:
        ids = {n.id for n in self.nodes}
        for node in self.nodes:
            if node.level >= len(self.levels):
                raise ValueError(f"node {node.id!r} has level {node.level}, only {len(self.levels)} levels exist")
            if node.level > 0 and node.parent not in ids:
                raise ValueError(f"node {node.id!r} names parent {node.parent!r}, which is not a node")
        return self

    def by_id(self) -> dict[str, TaxonomyNode]:
        return {n.id: n for n in self.nodes}


class Department(_Strict):
    id: str
    name: str
    districts: list[str] = Field(default_factory=list, description="District ids served; empty = all")


class RoutingRule(_Strict):
    department: str = Field(description="Department id that must act")
    kind: str | None = Field(default=None, description="Case kind; null matches any")
    category: str | None = Field(default=None, description="Taxonomy node id (any level); null matches any")
    district: str | None = Field(default=None, description="District id; null matches any")


class AutoDispatch(_Strict):
    threshold: float = Field(
        default=0.5, ge=0, le=1, description="Route confidence at or above which a case is dispatched automatically"
    )
    target_precision: float = Field(
        default=0.9, ge=0, le=1, description="Precision the threshold was chosen for (recorded by train-text)"
    )


class Routing(_Strict):
    rules: list[RoutingRule] = Field(
        default_factory=list, description="Checked most specific first; override the model"
    )
    auto_dispatch: AutoDispatch = Field(default_factory=AutoDispatch)
    triage_department: str = Field(default="triage", description="Queue for cases no rule or model can route")
    history_half_life_days: float | None = Field(
        default=None,
        gt=0,
        description="Training: an appeal this many days older than the newest one counts half as much in the "
        "dispatch model (responsible organisations change with contracts); unset: all appeals count alike",
    )


class SlaHours(_Strict):
    normal: float = Field(gt=0, description="Hours to resolve at normal priority")
    high: float = Field(gt=0, description="Hours at high priority (repeat reports)")
    urgent: float = Field(gt=0, description="Hours at urgent priority")


class Confirmation(_Strict):
    k: int = Field(default=3, ge=1, description="Frames that must show the violation ...")
    n: int = Field(default=5, ge=1, description="... out of the last n frames of that camera")
    window_s: float = Field(default=600, gt=0, description="Frames older than this are forgotten")
    min_stationary_s: float = Field(default=0, ge=0, description="Seconds the object must stay in place")

    @model_validator(mode="after")
    def _k_le_n(self) -> Confirmation:
        if self.k > self.n:
            raise ValueError(f"k={self.k} must not exceed n={self.n}")
        return self


class CaseKind(_Strict):
    id: str = Field(description="e.g. garbage, street_vending, illegal_ads")
    label: str
    radius_m: float = Field(gt=0, description="Reports within this distance of an open case merge into it")
    window_h: float = Field(gt=0, description="... if the case was last reported within this many hours")
    sla: SlaHours
    reminder_before_h: float = Field(default=2, ge=0, description="Reminder this long before the deadline")
    reopen_window_h: float = Field(default=72, ge=0, description="A report this soon after resolution reopens the case")
    confirmation: Confirmation = Field(default_factory=Confirmation, description="Camera confirmation rule")


class Homography(_Strict):
    image_points: list[tuple[float, float]] = Field(min_length=4, description="Pixel [x, y] of reference points")
    map_points: list[tuple[float, float]] = Field(min_length=4, description="[lat, lon] of the same points")

    @model_validator(mode="after")
    def _same_length(self) -> Homography:
        if len(self.image_points) != len(self.map_points):
            raise ValueError("image_points and map_points must pair up one to one")
        return self


class CameraZone(_Strict):
    name: str
    polygon: list[tuple[float, float]] = Field(min_length=3, description="Pixel [x, y] vertices, normalised 0..1")
    kinds: list[str] = Field(default_factory=list, description="Case kinds watched here; empty = all")


class Camera(_Strict):
    id: str
    name: str = ""
    source: str = Field(default="", description="RTSP/HTTP URL, video file or image folder")
    location: GeoPoint
    district: str
    sample_interval_s: float = Field(default=10, gt=0, description="Seconds between frames sent")
    zones: list[CameraZone] = Field(default_factory=list, description="Detections outside every zone are ignored")
    homography: Homography | None = Field(default=None, description="Projects a box's ground point to lat/lon")


class VisionSettings(_Strict):
    model: str = Field(default="onnx_models/cityops_detector.onnx", description="ONNX model path, repo-relative")
    precision: Literal["auto", "int8", "fp16", "fp32"] = Field(
        default="auto",
        description="auto: int8 file on CPUs (when it exists beside model), TensorRT fp16 or CUDA fp32 on GPUs",
    )
    input_size: int = Field(default=640, ge=32, description="Square model input, pixels")
    score_threshold: float = Field(default=0.35, ge=0, le=1)
    iou_threshold: float = Field(default=0.5, ge=0, le=1)
    class_kinds: dict[str, str] = Field(default_factory=dict, description="Model class name -> case kind")
    max_jpeg_bytes: int = Field(default=4_000_000, gt=0)


class Open311Settings(_Strict):
    """What the city's Open311 GeoReport v2 endpoint publishes, and who may submit to it."""

    anonymous_submissions: bool = Field(
        default=True,
        description="Accept a POST without an api_key (rate-limited per client address); false: a key issued "
        "with `cityops open311-key new` is required",
    )
    case_text: Literal["redacted", "none"] = Field(
        default="redacted",
        description="What a case's description shows: the report text as the hotline stage redacted it "
        "(names, phones, e-mails removed), or nothing",
    )
    location_grid_m: float = Field(
        default=0.0, ge=0, le=5000,
        description="Published locations snap to the centre of a grid cell of this many metres (0: as reported)",
    )


class CityConfig(_Strict):
    """Everything one city configures, loaded from one folder."""

    city: CitySettings
    districts: list[District]
    taxonomy: Taxonomy
    departments: list[Department]
    routing: Routing
    case_kinds: list[CaseKind]
    kind_of_category: dict[str, str] = Field(
        default_factory=dict, description="Taxonomy node id -> case kind id (most specific node wins)"
    )
    default_kind: str = Field(default="general", description="Case kind for categories not mapped")
    cameras: list[Camera] = Field(default_factory=list)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    open311: Open311Settings = Field(default_factory=Open311Settings)
    history: HistorySource | None = Field(default=None, description="How to read the city's history file")

    @field_validator("districts")
    @classmethod
    def _districts_unique(cls, v: list[District]) -> list[District]:
        ids = [d.id for d in v]
        if len(ids) != len(set(ids)):
            raise ValueError("district ids must be unique")
        return v

    @model_validator(mode="after")
    def _references_resolve(self) -> CityConfig:
        kinds = {k.id for k in self.case_kinds}
        districts = {d.id for d in self.districts}
        departments = {d.id for d in self.departments}
        nodes = {n.id for n in self.taxonomy.nodes}
        if self.default_kind not in kinds:
            raise ValueError(f"default_kind: {self.default_kind!r} is not among case_kinds {sorted(kinds)}")
        for node, kind in self.kind_of_category.items():
            if node not in nodes:
                raise ValueError(f"kind_of_category.{node}: not a taxonomy node id")
            if kind not in kinds:
                raise ValueError(f"kind_of_category.{node}: {kind!r} is not a case kind")
        for rule in self.routing.rules:
            if rule.department not in departments:
                raise ValueError(f"routing.rules: department {rule.department!r} is not in departments")
            if rule.district is not None and rule.district not in districts:
                raise ValueError(f"routing.rules: district {rule.district!r} is not in districts")
        for cam in self.cameras:
            if cam.district not in districts:
                raise ValueError(f"cameras.{cam.id}.district: {cam.district!r} is not in districts")
        for cls_name, kind in self.vision.class_kinds.items():
            if kind not in kinds:
                raise ValueError(f"vision.class_kinds.{cls_name}: {kind!r} is not a case kind")
        return self

    def kind(self, kind_id: str) -> CaseKind:
        for k in self.case_kinds:
            if k.id == kind_id:
                return k
        raise KeyError(kind_id)

    def kind_for(self, *node_ids: str | None) -> str:
        """The case kind of the most specific mapped node among ``node_ids`` (finest first)."""
        for node in node_ids:
            if node and node in self.kind_of_category:
                return self.kind_of_category[node]
        return self.default_kind

    def camera(self, camera_id: str) -> Camera | None:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        return None
