"""The request bodies and answers of the API as pydantic models: FastAPI validates the
bodies with them (422 otherwise) and describes every endpoint in /openapi.json."""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, Field, model_validator

from latentforge.serve.limits import MAX_SAMPLES, MAX_STEPS

PNG = "a PNG image as a data URL: data:image/png;base64,..."
MAX_SEED = 2**64 - 1  # what torch's generators take (config.check_seed)

# The image body of encode, reconstruct, anomaly and similar: a multipart upload or JSON.
IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["image"],
        "properties": {"image": {"type": "string", "format": "binary",
                                 "description": "a PNG or JPEG file (at most 5 MB, 4096 "
                                                "pixels a side)"}}}},
    "application/json": {"schema": {
        "type": "object", "required": ["image"],
        "properties": {"image": {"type": "string",
                                 "description": "base64 PNG or JPEG, optionally as a "
                                                "data:image/png;base64, URL"}}}}}}}


class RunInfo(BaseModel):
    name: str
    model: str
    recipe: str
    epochs: int = Field(description="epochs the newest checkpoint covers")
    capabilities: list[str]
    sample_shape: list[int] = Field(description="[C, H, W] for images, [D] for tables")
    latent_dim: Optional[int] = Field(description="size of the codings (sliders)")
    endpoints: list[str] = Field(description="the endpoints this run's model can do")
    n_classes: Optional[int]
    class_names: Optional[list[str]]


class RunList(BaseModel):
    runs: list[RunInfo]


class Metrics(BaseModel):
    history: list[dict] = Field(description="one object per metrics.jsonl line")


class CodingsOut(BaseModel):
    codings: list[float]


class ReconstructionOut(BaseModel):
    input: str = Field(description=f"the input as the model saw it: {PNG}")
    reconstruction: str = Field(description=PNG)
    codings: list[float]
    error: float = Field(description="mean squared error, pixels in [0, 1]")


class DecodeIn(BaseModel):
    codings: list[float] = Field(max_length=65536, description="latent_dim numbers")
    label: Optional[int] = Field(None, description="the class (conditional models only)")


class ImageOut(BaseModel):
    image: str = Field(description=PNG)


class GenerateIn(BaseModel):
    n: int = Field(16, ge=1, le=MAX_SAMPLES)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    label: Optional[int] = Field(None, description="every sample's class (conditional "
                                                   "models only)")
    truncation: Optional[float] = Field(None, description="the truncation trick's psi "
                                                          "(style models only)")


class GeneratedOut(BaseModel):
    images: list[str] = Field(description=f"one {PNG} per sample")
    grid: str = Field(description=f"the samples in one grid, 8 a row: {PNG}")
    codings: list[list[float]] = Field(description="each sample's codings z (for decode)")


class InterpolateIn(BaseModel):
    seeds: Optional[list[int]] = Field(None, min_length=2, max_length=2,
                                       description="two sample seeds (models that "
                                                   "generate)")
    images: Optional[list[str]] = Field(None, min_length=2, max_length=2,
                                        description="two base64 PNG/JPEG images (models "
                                                    "that encode)")
    steps: int = Field(8, ge=2, le=MAX_STEPS)
    label: Optional[int] = Field(None, description="the class (conditional models only)")

    @model_validator(mode="after")
    def _one_kind_of_ends(self):
        if (self.seeds is None) == (self.images is None):
            raise ValueError("give either 'seeds' (two seeds) or 'images' (two images)")
        if self.seeds is not None and not all(0 <= s <= MAX_SEED for s in self.seeds):
            raise ValueError(f"seeds must be integers in [0, {MAX_SEED}]")
        return self


class ImagesOut(BaseModel):
    images: list[str] = Field(description=f"one {PNG} per step")


class AnomalyOut(BaseModel):
    score: float = Field(description="higher is more anomalous")
    threshold: float = Field(description="the 99th percentile of the validation scores")
    is_anomaly: bool
    method: str = Field(description="the score: knn, reconstruction, elbo or "
                                    "discriminator")


class SimilarItem(BaseModel):
    index: int = Field(description="index in the test split (GET .../items/{index}.png)")
    distance: float
    label: Optional[int]
    thumbnail: str = Field(description=PNG)


class SimilarOut(BaseModel):
    items: list[SimilarItem]


class MapPoint(BaseModel):
    x: float
    y: float
    label: Optional[int]
    index: int = Field(description="index in the test split")


class MapOut(BaseModel):
    points: list[MapPoint]
    method: str
