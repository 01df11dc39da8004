"""The invoke server: loads the model once, then runs one case per ``POST /invoke``.

grand-challenge starts the container, waits until ``GET /health`` answers 200, stages a case in
``/input``, calls ``POST /invoke`` and expects 201 once ``/output`` is written.
"""

from contextlib import asynccontextmanager

import inference
from fastapi import FastAPI, Response, status

state = {}


@asynccontextmanager
async def lifespan(app):
    # uvicorn accepts connections only after this: /health cannot answer before the model loads.
    state["model"] = inference.init_model()
    yield
    state.clear()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
def health():
    if "model" not in state:
        return Response(status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return {"status": "ok"}


@app.post("/invoke", status_code=status.HTTP_201_CREATED)
def invoke():
    inference.run(state["model"])
    return {"status": "done"}
