# Owned by the ML backend; included at the site root by spineplatform/urls.py.
urlpatterns = []
