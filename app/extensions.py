"""Flask extensions, created unbound; `create_app` binds them."""
from flask_assets import Environment
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_principal import Principal
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from app.db import Base

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
principal = Principal(use_sessions=False)
babel = Babel()
assets = Environment()
limiter = Limiter(key_func=get_remote_address)
mail = Mail()
csrf = CSRFProtect()
