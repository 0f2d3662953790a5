# Owned by the reader-study app; included at the site root by spineplatform/urls.py.
urlpatterns = []
