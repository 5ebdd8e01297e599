"""Records on every topic (faust Records), their JSON Schemas, and the codec that checks them."""

from schemas.codec import DecodeError, decode, encode, to_dict
from schemas.records import (
    SCHEMA_VERSION,
    Alert,
    CameraFrame,
    CaseCommand,
    CaseEvent,
    DeadLetter,
    DispatchTask,
    FieldUpdate,
    HotlineEvent,
    Observation,
)

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "CameraFrame",
    "CaseCommand",
    "CaseEvent",
    "DeadLetter",
    "DecodeError",
    "DispatchTask",
    "FieldUpdate",
    "HotlineEvent",
    "Observation",
    "decode",
    "encode",
    "to_dict",
]
