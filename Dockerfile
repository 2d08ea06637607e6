# Dynamote: the Streamlit app and dynamote_core, runtime dependencies only.
# Build: docker build -t dynamote:0.1.0 .    Run in a cluster: kubectl apply -k deploy/
FROM python:3.11.14-slim-bookworm

# HOME=/tmp: Streamlit and Python write their few scratch files under HOME, and
# /tmp is the only writable place once the root filesystem is read-only.
# The image never starts the sandbox: in a pod it uses its service account.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    PORT=8501 \
    DYNAMOTE_SANDBOX=off \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

WORKDIR /app

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

RUN groupadd --gid 10001 dynamote \
    && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin dynamote

# Copied as root and left read-only to the app's user.
COPY .streamlit/ .streamlit/
COPY dynamote_core/ dynamote_core/
COPY ui/ ui/
COPY views/ views/
COPY app.py catalog.json ./

USER 10001:10001
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ.get('PORT', '8501'), timeout=4)"]

CMD ["sh", "-c", "exec streamlit run app.py --server.port \"$PORT\" --server.address 0.0.0.0 --server.headless true"]
