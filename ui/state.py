"""Every `st.session_state` key and widget key the app uses, in one place.

Tests find widgets by these keys, so renaming one is an interface change.
"""

# Settings (effective values for this browser session) and their storage.
SETTINGS = "settings"
SETTINGS_LOADED = "settings_loaded_from_browser"
BROWSER_STORAGE = "browser_storage"
STORAGE_SESSION = "browser_storage_session"
STORAGE_PENDING = "browser_storage_pending_write"
STORAGE_LAST_ID = "browser_storage_last_write_id"
SETTINGS_NAMESPACE = "settings_namespace"
SETTINGS_HF_SECRET = "settings_hf_secret"  # noqa: S105 (a widget key)
SETTINGS_KUBE_CONTEXT = "settings_kube_context"
SETTINGS_DYNAMO_VERSION = "settings_dynamo_version"
SETTINGS_API_VERSION = "settings_api_version"
SETTINGS_SAVE = "settings_save"
SETTINGS_RESET = "settings_reset"
SETTINGS_MESSAGE = "settings_message"

# Sidebar.
SIDEBAR_RETRY = "sidebar_retry"

# Catalog page.
CATALOG_SEARCH = "catalog_search"
CATALOG_TASKS = "catalog_tasks"
CATALOG_ENGINES = "catalog_engines"
# Copies of the search and chips: Streamlit drops a widget's value while
# another page shows, so these bring them back on return to the Catalog.
CATALOG_KEPT = "catalog_kept"
CATALOG_CONFIGURE_PREFIX = "catalog_configure_"

# Configure page: the chosen model, then one key per DeploymentConfig field.
SELECTED_MODEL = "selected_model"
CONFIG_MODEL = "config_model"
CONFIG_ENGINE = "config_engine"
CONFIG_MODE = "config_mode"
CONFIG_ROUTER_MODE = "config_router_mode"
CONFIG_REPLICAS = "config_replicas"
CONFIG_PREFILL_REPLICAS = "config_prefill_replicas"
CONFIG_DECODE_REPLICAS = "config_decode_replicas"
CONFIG_NAME = "config_name"
CONFIG_SERVED_MODEL_NAME = "config_served_model_name"
CONFIG_HF_SECRET = "config_hf_secret"  # noqa: S105 (a widget key)
CONFIG_CONTEXT_LENGTH = "config_context_length"
CONFIG_GPUS_PER_WORKER = "config_gpus_per_worker"
CONFIG_MEMORY = "config_memory"
CONFIG_ENFORCE_EAGER = "config_enforce_eager"
CONFIG_PREFIX_CACHING = "config_prefix_caching"
CONFIG_TRUST_REMOTE_CODE = "config_trust_remote_code"
CONFIG_ENGINE_ARGS = "config_engine_args"
CONFIG_DYNAMO_VERSION = "config_dynamo_version"
CONFIG_IMAGE = "config_image"
CONFIG_DEFAULT_NAME = "config_default_name"
CONFIG_FORM_MODEL = "config_form_model"
CONFIG_DOWNLOAD = "config_download"
CONFIG_DEPLOY = "config_deploy"
CONFIG_RETRY = "config_retry"
LAST_DEPLOYED = "last_deployed"

# Deployments page.
DEPLOYMENTS_TABLE = "deployments_table"
# Bumped each time a selected row opens the details: the table returns unselected.
DEPLOYMENTS_TABLE_ROUND = "deployments_table_round"
# Names this session opened from the list (see views/deployments.py main).
DEPLOYMENTS_OPENED = "deployments_opened"
DEPLOYMENTS_PICK = "deployments_pick"
DEPLOYMENTS_REFRESH = "deployments_refresh"
DEPLOYMENTS_VIEW = "deployments_view"
DEPLOYMENTS_DELETE = "deployments_delete"
DEPLOYMENTS_RETRY = "deployments_retry"
DETAILS_BACK = "details_back"
DETAILS_SHOWN = "details_shown"
DETAILS_GONE = "details_gone"
DETAILS_DELETE = "details_delete"
DELETE_CONFIRM_TEXT = "delete_confirm_text"
DELETE_CONFIRM = "delete_confirm"
DELETE_CANCEL = "delete_cancel"
DELETE_TARGET = "delete_target"
FLASH_MESSAGE = "flash_message"

# Query parameters (shareable URLs).
QUERY_MODEL = "model"
QUERY_NAME = "name"

# --- Try it tab (ui/try_it.py) --------------------------------------------------------
# Each key gets the deployment's "<namespace>/<name>" appended, so every deployment
# keeps its own chat history and controls.
TRY_IT_HISTORY_PREFIX = "try_it_history_"
TRY_IT_INPUT_PREFIX = "try_it_input_"
TRY_IT_MAX_TOKENS_PREFIX = "try_it_max_tokens_"
TRY_IT_TEMPERATURE_PREFIX = "try_it_temperature_"
TRY_IT_CLEAR_PREFIX = "try_it_clear_"
TRY_IT_RECHECK_PREFIX = "try_it_recheck_"
